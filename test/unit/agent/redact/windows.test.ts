import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DETECTORS } from "../../../../agent/redact/index.js";
import { KnownValues } from "../../../../agent/redact/known-values.js";
import { compileRules, maskTextWhole, maskTextWith } from "../../../../agent/redact/mask-text.js";
import type { MaskPiece } from "../../../../agent/redact/named-values.js";
import { windowsOf } from "../../../../agent/redact/windows.js";
import { expand, rulesIn } from "./samples.js";

const rules = compileRules(DETECTORS);
const mask: MaskPiece = (raw, rule) =>
  `⟦masked:${rule}:${"0".repeat(12)}⟧${raw.replace(/[^\n\r\u2028\u2029]/g, "")}`;

function knownOf(...values: string[]): KnownValues {
  const known = new KnownValues();
  for (const value of values) known.add(value);
  return known;
}

const MULTILINE_KNOWN = "first-half-of-it\nsecond-half-of-it";
const known = knownOf("remembered-value-1", "4821x", MULTILINE_KNOWN);
const secretArb = fc
  .tuple(fc.constantFrom(...DETECTORS.flatMap((d) => d.samples)), fc.integer({ min: 1, max: 2 ** 31 - 1 }))
  .map(([template, seed]) => expand(template, seed));
const fragmentArb = fc.oneof(
  fc.string({ maxLength: 16 }),
  fc.constantFrom(
    "\n",
    "\n",
    "\r\n",
    " ",
    "=",
    ": ",
    '"',
    "password",
    "token",
    "<password>",
    "</password>",
    '<add key="DbPassword" value="',
    '"/>',
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "postgres://u:",
    "@db/x",
    "Bearer ",
    "pin=",
    "4821x",
    "remembered-value-1",
    MULTILINE_KNOWN,
    "⟦masked:secret-name:000000000000⟧",
    "2024-05-01T10:00:00Z INFO GET /api/orders status=200 duration_ms=12",
  ),
  secretArb,
);
const textArb = fc.array(fragmentArb, { maxLength: 40 }).map((parts) => parts.join(""));

describe("the prefilter (windows of lines)", () => {
  it("never changes the result: masking by windows equals masking the whole text at once", () => {
    fc.assert(
      fc.property(textArb, (text) => {
        expect(maskTextWith(text, rules, known, mask)).toBe(maskTextWhole(text, rules, known, mask));
      }),
      { numRuns: 3000 },
    );
  });

  it("leaves lines with nothing to act on out of every window", () => {
    const quiet =
      "2024-05-01T10:00:00Z INFO GET /api/orders status=200 duration_ms=12 trace=3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d";
    const text = [quiet, `db_password=${expand("{alnum:16}", 1)}`, quiet, quiet].join("\n");
    const start = quiet.length + 1;
    expect(windowsOf(text, rules.triggers, known)).toEqual([start, text.indexOf("\n", start)]);
    expect(windowsOf(`${quiet}\n${quiet}`, rules.triggers, known)).toEqual([]);
  });

  it("grows a window over a PEM block, an XML value and a known value that run onto later lines", () => {
    const body = [expand("{b64:64}", 2), expand("{b64:64}", 3)];
    const cases = [
      [`x\n-----BEGIN PRIVATE KEY-----\n${body.join("\n")}\n-----END PRIVATE KEY-----\ny`, body],
      [`x\n<password>\n${body[0]}\n</password>\ny`, [body[0]!]],
      [`x\n<add key="DbPassword" value="${body[0]}\n${body[1]}"/>\ny`, body],
      [`x\nvalue ${MULTILINE_KNOWN} end\ny`, ["first-half", "second-half"]],
    ] as const;
    for (const [text, secrets] of cases) {
      const out = maskTextWith(text, rules, known, mask);
      for (const secret of secrets) expect(out).not.toContain(secret);
      expect(out.split("\n")).toHaveLength(text.split("\n").length);
      expect(out.startsWith("x\n") && out.endsWith("\ny")).toBe(true);
    }
  });

  it("finds every rule on its line in a long text of quiet lines", () => {
    const quiet = "2024-05-01T10:00:00Z INFO GET /api/orders status=200";
    const secrets = DETECTORS.map((d) => expand(d.samples[0]!.replace(/\n|\\n/g, " "), 7));
    const lines = secrets.flatMap((secret) => [quiet, quiet, `seen ${secret} here`]);
    const out = maskTextWith(lines.join("\n"), rules, known, mask);
    for (const secret of secrets) expect(out).not.toContain(secret);
    expect(rulesIn(out.replace(/0{12}/g, "0123456789ab")).length).toBeGreaterThanOrEqual(secrets.length);
  });
});
