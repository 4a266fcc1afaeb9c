import { describe, expect, it } from "vitest";
import { parseDurationSeconds } from "../../../controller/duration.js";

describe("parseDurationSeconds", () => {
  it("reads seconds, minutes, hours and days", () => {
    expect(parseDurationSeconds("90")).toBe(90);
    expect(parseDurationSeconds("90s")).toBe(90);
    expect(parseDurationSeconds("30m")).toBe(1800);
    expect(parseDurationSeconds("8h")).toBe(28_800);
    expect(parseDurationSeconds("7d")).toBe(604_800);
    expect(parseDurationSeconds(" 1h ")).toBe(3600);
  });

  it("refuses anything else, zero, and more than the maximum", () => {
    for (const bad of ["", "h", "1.5h", "-1h", "8 h", "8hours", "1w", "0", "0s", "1e3"]) {
      expect(() => parseDurationSeconds(bad), bad).toThrow(RangeError);
    }
    expect(() => parseDurationSeconds("366d")).toThrow(/at most/);
    expect(() => parseDurationSeconds("2h", 3600)).toThrow(/at most 3600/);
  });
});
