import { describe, expect, it } from "vitest";
import { leadingTimestamp, parseIsoTimestamp } from "../../../../agent/proc/log-timestamp.js";

const T = Date.parse("2024-05-01T12:00:00Z");

describe("leadingTimestamp", () => {
  it.each([
    ["2024-05-01T12:00:00Z msg", T],
    ["2024-05-01T12:00:00.250Z msg", T + 250],
    ["2024-05-01T12:00:00.123456789Z msg", T + 123],
    ["2024-05-01 12:00:00,5 log4j", T + 500],
    ["2024-05-01T12:00 no seconds", T],
    ["2024-05-01T12:00:00 no zone is UTC", T],
    ["2024-05-01T14:00:00+02:00 offset", T],
    ["2024-05-01T14:00:00+0200 offset", T],
    ["2024-05-01T14:00:00+02 offset", T],
    ["2024-05-01T07:30:00-04:30 offset", T],
    ["[2024-05-01T12:00:00Z] bracketed", T],
    [`${T / 1000} seconds`, T],
    [`${T / 1000}.75 fractional seconds`, T + 750],
    [`${T} millis`, T],
    [`[${T}] bracketed millis`, T],
    [`${T / 1000}`, T],
    [`{"level":30,"time":${T},"msg":"x"}`, T],
    [`{"ts":${T / 1000},"msg":"x"}`, T],
    ['{"@timestamp":"2024-05-01T12:00:00Z","message":"x"}', T],
  ])("%s", (line, expected) => {
    expect(leadingTimestamp(line)).toBe(expected);
  });

  it.each([
    "    at stack (file.js:1:1)",
    "INFO 2024-05-01T12:00:00Z not leading",
    " 2024-05-01T12:00:00Z leading space",
    "12345 a short number",
    "17145648001 eleven digits",
    "2024-13-01T12:00:00Z month 13",
    '{"msg":"no time field"}',
    "",
  ])("none in %j", (line) => {
    expect(leadingTimestamp(line)).toBeUndefined();
  });

  it("parses a whole ISO string for since, and nothing else", () => {
    expect(parseIsoTimestamp("2024-05-01T12:00:00Z")).toBe(T);
    expect(parseIsoTimestamp("2024-05-01T12:00:00Z trailing")).toBeUndefined();
    expect(parseIsoTimestamp("yesterday")).toBeUndefined();
  });
});
