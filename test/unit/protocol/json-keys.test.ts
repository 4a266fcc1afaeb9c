import { describe, expect, it } from "vitest";
import { repeatedJsonKey } from "../../../protocol/json-keys.js";

describe("repeatedJsonKey", () => {
  it.each([
    ['{"a":1,"a":2}', "a"],
    ['{"a":1,"\\u0061":2}', "a"],
    ['{"x":{"b":[1,{"c":1,"c":2}]}}', "c"],
    ['{"p":{"q":1,"q":{}}}', "q"],
    ['{"s":"a\\"b","s":1}', "s"],
    [' { "k" : 1 , "k" : 1 } ', "k"],
  ])("finds the repeated name in %s", (text, name) => {
    JSON.parse(text);
    expect(repeatedJsonKey(text)).toBe(name);
  });

  it.each([
    '{"a":1,"b":{"a":2}}',
    '{"a":["a","a"],"b":"a"}',
    '{"a":"{\\"a\\":1,\\"a\\":2}"}',
    '{"a\\"":1,"a":2}',
    '{"list":[{"a":1},{"a":2}]}',
    "{}",
    '{"":1,"x":[]}',
  ])("finds none in %s (same names in other objects, in values or in strings)", (text) => {
    JSON.parse(text);
    expect(repeatedJsonKey(text)).toBeUndefined();
  });

  it("returns on text JSON.parse would refuse (an unterminated string), rather than looping", () => {
    // What it answers for such text does not matter (verify.ts calls it only after JSON.parse);
    // that it answers does.
    expect(repeatedJsonKey('{"a":1,"a')).toBe("a");
    expect(repeatedJsonKey('{"a":"\\')).toBeUndefined();
  });
});
