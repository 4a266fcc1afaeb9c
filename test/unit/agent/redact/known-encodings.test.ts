/**
 * Issue 16, finding 6, as a property: once the agent has learned a secret value, it is found in
 * every encoding a program commonly writes (test/helpers/secret-encodings.ts is that list, and
 * docs/masking.md the promise), for random secrets of every kind of character, in the places a
 * program writes them. The whole encoded value becomes markers; the text around it stays.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRedactor, type Redactor } from "../../../../agent/redact/index.js";
import { JsonStringMasker } from "../../../../agent/runtimes/node/json-string-masker.js";
import { ENCODINGS } from "../../../helpers/secret-encodings.js";

const CHARACTERS = [
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  ..."-_.~!*'()&<>\"/\\+=%#?@:;, $[]{}|^`",
  ..."äöüßéñ€§",
  "😀",
  "中",
];
/** A secret of 8 to 32 characters drawn from everything above (letters, reserved, non-ASCII, astral). */
const secretArb = fc
  .array(fc.constantFrom(...CHARACTERS), { minLength: 8, maxLength: 32 })
  .map((chars) => chars.join(""));

/** Where programs write an encoded value: free text, a JSON log line, a query string, an XML element. */
const CONTEXTS: readonly [string, string][] = [
  ["2026-11-30T10:00:01Z debug upstream accepted ", " for svc-payments"],
  ['{"level":"info","msg":"calling upstream","detail":"', '","ms":12}'],
  ["GET /callback?next=", "&lang=en HTTP/1.1"],
  ["<request><payload>", "</payload></request>"],
];

/** KEYHOLE_FUZZ_RUNS runs more (a long local hunt); the suite keeps it quick. */
const RUNS = Number(process.env.KEYHOLE_FUZZ_RUNS ?? 150);
const TIMEOUT_MS = Math.max(30_000, RUNS * 60);

const ONLY_MARKERS = /^(?:⟦masked:[a-z0-9-]{1,40}:[0-9a-f]{12}⟧)+$/;

function learned(secret: string): Redactor {
  const redactor = createRedactor({ fingerprintKey: Buffer.alloc(32, 9) });
  redactor.remember(secret);
  return redactor;
}

/** Masks `prefix + encoded + suffix`; returns what replaced `encoded`, or why the context broke. */
function maskedMiddle(redactor: Redactor, prefix: string, encoded: string, suffix: string): string {
  const out = redactor.maskText(prefix + encoded + suffix);
  if (!out.startsWith(prefix) || !out.endsWith(suffix)) return `context changed: ${out}`;
  return out.slice(prefix.length, out.length - suffix.length);
}

describe("finding 6: a learned value is found in every encoding a program commonly writes", () => {
  it(
    "finding 6: random secrets × every listed encoding × common contexts leave only markers",
    () => {
      fc.assert(
        fc.property(secretArb, (secret) => {
          const redactor = learned(secret);
          for (const [name, encode] of Object.entries(ENCODINGS)) {
            const encoded = encode(secret);
            for (const [prefix, suffix] of CONTEXTS) {
              const middle = maskedMiddle(redactor, prefix, encoded, suffix);
              expect(middle, `${name} of ${JSON.stringify(secret)} in ${JSON.stringify(prefix)}`).toMatch(
                ONLY_MARKERS,
              );
            }
          }
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it(
    "finding 6: every listed encoding in a heap snapshot's strings is masked too",
    () => {
      fc.assert(
        fc.property(secretArb, (secret) => {
          const redactor = learned(secret);
          const strings = Object.values(ENCODINGS).map((encode) => `cached ${encode(secret)} value`);
          const snapshot = JSON.stringify({ snapshot: { meta: {} }, nodes: [1, 2, 3], strings });
          const masker = new JsonStringMasker((value) => redactor.maskText(value), "⟦withheld:too-long⟧");
          // Split anywhere: strings cross chunk boundaries in a real stream.
          const cut = Math.floor(snapshot.length / 2);
          const out = JSON.parse(
            masker.write(snapshot.slice(0, cut)) + masker.write(snapshot.slice(cut)) + masker.end(),
          );
          for (const [i, name] of Object.keys(ENCODINGS).entries()) {
            const value: string = out.strings[i];
            expect(value.startsWith("cached ") && value.endsWith(" value"), name).toBe(true);
            expect(value.slice(7, -6), `${name} of ${JSON.stringify(secret)}`).toMatch(ONLY_MARKERS);
          }
        }),
        { numRuns: Math.ceil(RUNS / 2) },
      );
    },
    TIMEOUT_MS,
  );

  it("finding 6: the marker of an escaped form carries the fingerprint of the value itself", () => {
    const secret = "p&ss<wörd>1";
    const redactor = learned(secret);
    const fingerprint = redactor.fingerprint(secret);
    for (const name of [
      "Go encoding/json (\\u003c \\u003e \\u0026)",
      "every character percent-encoded",
      "HTML escape (&#39;)",
    ]) {
      const out = redactor.maskText(`x ${ENCODINGS[name]!(secret)} y`);
      expect(out, name).toBe(`x ⟦masked:known-value:${fingerprint}⟧ y`);
    }
  });

  it("leaves escaped text that holds no learned value as it is", () => {
    const redactor = learned("a-learned-secret-value");
    const text = [
      "GET /search?q=caf%C3%A9%20au%20lait&sort=asc HTTP/1.1",
      '{"msg":"\\u003cb\\u003ebold\\u003c/b\\u003e and \\"quoted\\" \\\\ path"}',
      "<p>Fish &amp; chips &lt;3 &#169; &#x2603;</p>",
      "C:\\new\\table\\x41 100% done, 50%off",
    ].join("\n");
    expect(redactor.maskText(text)).toBe(text);
  });
});
