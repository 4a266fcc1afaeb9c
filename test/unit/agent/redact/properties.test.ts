import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DETECTORS, WITHHELD_MARKER } from "../../../../agent/redact/index.js";
import { expand, redactor } from "./samples.js";

const lineCount = (text: string) => text.split("\n").length;

/** A generated secret of some detector's format. */
const secretArb = fc
  .tuple(fc.constantFrom(...DETECTORS.flatMap((d) => d.samples)), fc.integer({ min: 1, max: 2 ** 31 - 1 }))
  .map(([template, seed]) => expand(template, seed));

/** Text fragments that exercise every rule: names, separators, quotes, URLs, markers-to-be. */
const fragmentArb = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom(
    "password",
    "token",
    "api_key",
    "Authorization",
    "user",
    "=",
    ":",
    ": ",
    '"',
    "'",
    "\n",
    "\r\n",
    " ",
    "--",
    "&",
    ",",
    "Bearer ",
    "postgres://",
    "@",
    "⟦",
    "⟧",
    "-----BEGIN PRIVATE KEY-----",
  ),
  secretArb,
);
const textArb = fc.array(fragmentArb, { maxLength: 30 }).map((parts) => parts.join(""));

describe("maskText properties", () => {
  const r = redactor();
  r.remember("remembered-value-1");

  it("never throws, never needs the withheld fallback, keeps the line count", () => {
    fc.assert(
      fc.property(textArb, (text) => {
        const out = r.maskText(text);
        expect(out).not.toContain(WITHHELD_MARKER);
        expect(lineCount(out)).toBe(lineCount(text));
      }),
      { numRuns: 2000 },
    );
  });

  it("is idempotent: masking masked text changes nothing", () => {
    fc.assert(
      fc.property(textArb, (text) => {
        const once = r.maskText(text);
        expect(r.maskText(once)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });

  it("never lets a generated secret through when it stands on its own line", () => {
    const partArb = fc.oneof(
      secretArb.map((text) => ({ text, secret: true })),
      fc.string({ maxLength: 12 }).map((text) => ({ text, secret: false })),
    );
    fc.assert(
      fc.property(fc.array(partArb, { maxLength: 8 }), (parts) => {
        const out = r.maskText(parts.map((p) => p.text).join("\n"));
        for (const part of parts) if (part.secret) expect(out).not.toContain(part.text);
      }),
      { numRuns: 1000 },
    );
  });

  it("maskArgv and maskEnv never throw and keep the argument count", () => {
    fc.assert(
      fc.property(fc.array(textArb, { maxLength: 6 }), textArb, (argv, value) => {
        expect(r.maskArgv(argv)).toHaveLength(argv.length);
        const env = r.maskEnv("SOME_VAR", value);
        expect(lineCount(env.value)).toBe(lineCount(value));
      }),
      { numRuns: 500 },
    );
  });
});
