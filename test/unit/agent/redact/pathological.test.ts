import { describe, expect, it } from "vitest";
import { threadCpuMs } from "../../../helpers/thread-cpu.js";
import { expand, redactor } from "./samples.js";

const MB = 1024 * 1024;
/** CPU of the test's thread; a catastrophic backtrack takes minutes, not seconds. */
const BOUND_MS = 3000;

const inputs: [string, () => string][] = [
  ["a run of 'a'", () => "a".repeat(MB)],
  ["a run of '='", () => "=".repeat(MB)],
  ["a run of ':'", () => ":".repeat(MB)],
  ["a run of '/'", () => "/".repeat(MB)],
  ["a run of '@'", () => "@".repeat(MB)],
  ["base64 characters", () => expand(`{b64:${MB}}`, 1)],
  ["nested quotes", () => `"'`.repeat(MB / 2)],
  ["key=value pairs", () => "password=a&".repeat(MB / 11)],
  ["colons and spaces", () => "key: ".repeat(MB / 5)],
  ["URL prefixes", () => "a://b:".repeat(MB / 6)],
  ["at-signs after credentials", () => `x://u:${"p@".repeat(MB / 2)}`],
  ["unterminated PEM", () => `-----BEGIN PRIVATE KEY-----${"A".repeat(MB)}`],
  ["many BEGIN armours", () => "-----BEGIN PRIVATE KEY-----".repeat(MB / 27)],
  ["Bearer words", () => "Bearer ".repeat(MB / 7)],
  ["JWT-like", () => `eyJ${"a".repeat(MB / 2)}.eyJ${"b".repeat(MB / 2)}`],
  ["XML openers", () => "<password ".repeat(MB / 10)],
  ["backslashes in a quoted value", () => `"token": "${"\\".repeat(MB)}`],
  ["secret-name words", () => "tokenpasswordsecret".repeat(MB / 19)],
];

describe("pathological inputs (no catastrophic backtracking)", () => {
  const r = redactor();
  r.remember("remembered-secret-value");
  it.each(inputs)("%s, 1 MB on one line, is masked within the bound", (_, make) => {
    const text = make();
    let out = "";
    expect(threadCpuMs(() => (out = r.maskText(text)))).toBeLessThan(BOUND_MS);
    expect(out.split("\n").length).toBe(text.split("\n").length);
  });
});
