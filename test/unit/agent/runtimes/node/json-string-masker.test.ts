import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JsonStringMasker, MAX_STRING_UNITS } from "../../../../../agent/runtimes/node/json-string-masker.js";

const upper = (v: string) => v.toUpperCase();

/** Runs `text` through a masker in chunks cut at `cuts`. */
function run(text: string, cuts: number[], mask: (v: string) => string = upper): string {
  const masker = new JsonStringMasker(mask, "[withheld]");
  let out = "";
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    out += masker.write(text.slice(from, cut));
    from = cut;
  }
  out += masker.write(text.slice(from));
  return out + masker.end();
}

/** What the masker should produce: every string value mapped, keys kept. */
function mapValues(value: unknown, mask: (v: string) => string): unknown {
  if (typeof value === "string") return mask(value);
  if (Array.isArray(value)) return value.map((v) => mapValues(v, mask));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapValues(v, mask)]));
  }
  return value;
}

describe("JsonStringMasker", () => {
  it("masks values, keeps keys, numbers and layout byte for byte", () => {
    const text =
      '{"snapshot":{"meta":{"node_fields":["type","name"]}},\n"nodes":[1,2,3],\n"strings":["",\n"a\\"b",\n"x\\\\"]}';
    expect(run(text, [])).toBe(
      '{"snapshot":{"meta":{"node_fields":["TYPE","NAME"]}},\n"nodes":[1,2,3],\n"strings":["",\n"A\\"B",\n"X\\\\"]}',
    );
  });

  it("gives the same output for every single cut point (escapes, surrogates, key detection across chunks)", () => {
    const text = '{"k\\u00e9y" : "v\\\\\\"al\\ud83d\\ude00", "s":["\\\\", "é😀\\n", "\\ud800"] , "t" \n:"z"}';
    const whole = run(text, []);
    expect(JSON.parse(whole)).toEqual(mapValues(JSON.parse(text), upper));
    for (let cut = 0; cut <= text.length; cut++) expect(run(text, [cut])).toBe(whole);
  });

  it("leaves unchanged strings as their original bytes", () => {
    const text = '["\\u0061bc", "d"]';
    expect(run(text, [], (v) => v)).toBe(text);
  });

  it("keeps the string count for any JSON and any chunking", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.nat(), { maxLength: 6 }), (value, rawCuts) => {
        const text = JSON.stringify(value, null, rawCuts.length % 2 ? 1 : undefined) ?? "null";
        const cuts = rawCuts.map((c) => c % (text.length + 1));
        const out = run(text, cuts);
        expect(JSON.parse(out)).toEqual(mapValues(JSON.parse(text), upper));
      }),
      { numRuns: 300 },
    );
  });

  it("throws on a document truncated inside a string", () => {
    const masker = new JsonStringMasker(upper, "[withheld]");
    masker.write('["abc');
    expect(() => masker.end()).toThrow(/ends inside a string/);
  });

  it("replaces an oversized string without holding it", () => {
    const masker = new JsonStringMasker(upper, "[withheld]");
    let out = masker.write('["');
    const piece = "a".repeat(1024 * 1024);
    for (let i = 0; i <= MAX_STRING_UNITS / piece.length; i++) out += masker.write(piece);
    out += masker.write('", "b"]');
    out += masker.end();
    expect(JSON.parse(out)).toEqual(["[withheld]", "B"]);
  });
});
