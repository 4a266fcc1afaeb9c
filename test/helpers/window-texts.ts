/**
 * The windows property shared by `test/unit/agent/redact/windows.test.ts` (a fixed seed) and
 * `bench/redact-windows.ts` (a large budget of random seeds): masking by the prefilter's windows
 * equals masking the whole text at once. The texts are built from fragments that reach what the
 * rules may span: XML attribute values and elements split across lines, YAML `- name: X` /
 * `value:` pairs, JSON objects over several lines, PEM blocks, a known value holding a line break.
 */
import fc from "fast-check";
import { DETECTORS } from "../../agent/redact/index.js";
import { KnownValues } from "../../agent/redact/known-values.js";
import { compileRules, maskTextWhole, maskTextWith } from "../../agent/redact/mask-text.js";
import type { MaskPiece } from "../../agent/redact/named-values.js";
import { expand } from "../unit/agent/redact/samples.js";

export const rules = compileRules(DETECTORS);
export const mask: MaskPiece = (raw, rule) =>
  `⟦masked:${rule}:${"0".repeat(12)}⟧${raw.replace(/[^\n\r\u2028\u2029]/g, "")}`;

export const MULTILINE_KNOWN = "first-half-of-it\nsecond-half-of-it";

export function knownOf(...values: string[]): KnownValues {
  const known = new KnownValues();
  for (const value of values) known.add(value);
  return known;
}

export const known = knownOf("remembered-value-1", "4821x", MULTILINE_KNOWN);

const secretArb = fc
  .tuple(fc.constantFrom(...DETECTORS.flatMap((d) => d.samples)), fc.integer({ min: 1, max: 2 ** 31 - 1 }))
  .map(([template, seed]) => expand(template, seed));
const randomValueArb = fc
  .integer({ min: 1, max: 2 ** 31 - 1 })
  .map((seed) => expand(["{alnum:12}", "{b64:40}", "{hex:16}"][seed % 3]!, seed));
const lineBreakArb = fc.constantFrom("\n", "\n", "\r\n", "\n  ", "\n\t");

/** Pieces of structures whose value may sit on a later line than its name. */
const structureArb: fc.Arbitrary<string> = fc.oneof(
  // XML: an attribute value or an element split across lines, closed or not.
  fc
    .tuple(
      fc.constantFrom("DbPassword", "ApiKey", "token", "name"),
      lineBreakArb,
      randomValueArb,
      fc.boolean(),
    )
    .map(
      ([key, br, value, closed]) => `<add key="${key}" value="${value}${br}${value}${closed ? '"/>' : ""}`,
    ),
  fc
    .tuple(
      fc.constantFrom("password", "secret", "token", "apiKey"),
      lineBreakArb,
      randomValueArb,
      fc.boolean(),
    )
    .map(([tag, br, value, attr]) => `<${tag}${attr ? ' a="1"' : ""}>${br}${value}${br}</${tag}>`),
  fc.constantFrom(
    '<add key="DbPassword" value="',
    "<add key='DbPassword' content='",
    ' value="',
    "' value='",
    '"/>',
    "'/>",
    "<password a/>",
    "<password>",
    "</password>",
    "<secret note='x'>",
    "</secret>",
    ">",
    "<",
  ),
  // YAML: a pod spec's env entry, the value one line below the name.
  fc
    .tuple(fc.constantFrom("DB_PASSWORD", "API_TOKEN", "HOME"), lineBreakArb, randomValueArb)
    .map(([name, br, value]) => `- name: ${name}${br}  value: ${value}`),
  fc.tuple(randomValueArb, lineBreakArb).map(([value, br]) => `password: |${br}  ${value}${br}  ${value}`),
  // JSON objects spanning lines.
  fc
    .tuple(fc.constantFrom("API_KEY", "password", "auth", "token"), lineBreakArb, randomValueArb)
    .map(([key, br, value]) => `{${br}  "${key}":${br}  {${br}    "value": "${value}"${br}  }${br}}`),
  fc
    .tuple(fc.constantFrom("password", "client_secret"), lineBreakArb, randomValueArb)
    .map(([key, br, value]) => `{"${key}":${br}"${value}",${br}"next": 1}`),
  // PEM blocks, whole, unterminated, or only their armour.
  fc
    .tuple(
      fc.constantFrom("PRIVATE KEY", "RSA PRIVATE KEY", "CERTIFICATE"),
      lineBreakArb,
      randomValueArb,
      fc.boolean(),
    )
    .map(
      ([label, br, body, end]) =>
        `-----BEGIN ${label}-----${br}${body}${br}${body}${end ? `${br}-----END ${label}-----` : ""}`,
    ),
);

const fragmentArb = fc.oneof(
  { arbitrary: fc.string({ maxLength: 16 }), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      "\n",
      "\n",
      "\r\n",
      " ",
      "=",
      ": ",
      '"',
      "'",
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
      // Known values escaped, and escapes that hide a letter or not.
      "remembered%2Dvalue-1",
      "remembered\\u002dvalue-1",
      "rem&#101;mbered-value-1",
      "first-half-of-it\\nsecond-half-of-it",
      "first-half-of-it%0Asecond-half-of-it",
      "%41",
      '\\"',
      "&amp;",
      "2024-05-01T10:00:00Z INFO GET /api/orders status=200 duration_ms=12",
    ),
    weight: 4,
  },
  { arbitrary: structureArb, weight: 3 },
  { arbitrary: secretArb, weight: 2 },
);

/** A text of up to 40 fragments. */
export const textArb = fc.array(fragmentArb, { maxLength: 40 }).map((parts) => parts.join(""));

/** The property: windows never change the result (so they can never mask less). */
export function windowsAgree(text: string): boolean {
  return maskTextWith(text, rules, known, mask) === maskTextWhole(text, rules, known, mask);
}
