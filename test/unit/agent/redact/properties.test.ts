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
      { numRuns: 2000, seed: 1717 },
    );
  });

  it("is idempotent: masking masked text changes nothing", () => {
    fc.assert(
      fc.property(textArb, (text) => {
        const once = r.maskText(text);
        expect(r.maskText(once)).toBe(once);
      }),
      { numRuns: 2000, seed: 1717 },
    );
  });

  it("never lets a generated secret through when it stands on its own line", () => {
    // Every detector with a format, a prefix or a name; the entropy rule is statistical by nature
    // (a random token can look like an identifier) and has its own measured test below.
    const formatted = fc
      .tuple(
        fc.constantFrom(...DETECTORS.filter((d) => d.id !== "high-entropy").flatMap((d) => d.samples)),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      )
      .map(([template, seed]) => expand(template, seed));
    const partArb = fc.oneof(
      formatted.map((text) => ({ text, secret: true })),
      fc.string({ maxLength: 12 }).map((text) => ({ text, secret: false })),
    );
    fc.assert(
      fc.property(fc.array(partArb, { maxLength: 8 }), (parts) => {
        const out = r.maskText(parts.map((p) => p.text).join("\n"));
        for (const part of parts) if (part.secret) expect(out).not.toContain(part.text);
      }),
      { numRuns: 1000, seed: 1717 },
    );
  });

  it("maskArgv and maskEnv never throw and keep the argument count", () => {
    fc.assert(
      fc.property(fc.array(textArb, { maxLength: 6 }), textArb, (argv, value) => {
        expect(r.maskArgv(argv)).toHaveLength(argv.length);
        const env = r.maskEnv("SOME_VAR", value);
        expect(lineCount(env.value)).toBe(lineCount(value));
      }),
      { numRuns: 500, seed: 1717 },
    );
  });
});

describe("the entropy rule on random tokens", () => {
  it("misses fewer than 3 in 10,000 random base62 tokens of 40 characters on their own line (seeded)", () => {
    const r = redactor();
    const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // A fixed linear congruential sequence: the same 20,000 tokens every run.
    let state = 20261127;
    const next = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 8;
    };
    let judged = 0;
    let missed = 0;
    for (let i = 0; i < 20_000; i++) {
      let token = "";
      for (let j = 0; j < 40; j++) token += alnum[next() % 62];
      if (!/[A-Z]/.test(token) || !/[a-z]/.test(token) || !/[0-9]/.test(token)) continue;
      judged++;
      if (r.maskText(token).includes(token)) missed++;
    }
    expect(judged).toBeGreaterThan(19_000);
    // 2 of 19,987 here; the first test alone (before the high-entropy one) missed 11.
    expect(missed / judged).toBeLessThan(0.0003);
  });
});
