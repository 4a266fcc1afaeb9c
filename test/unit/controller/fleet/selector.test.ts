import { describe, expect, it } from "vitest";
import { parseSelector, SelectorError, selectorMatches } from "../../../../controller/fleet/selector.js";

describe("label selectors", () => {
  const labels = { app: "payments", tier: "web", "app.kubernetes.io/name": "pay" };

  it.each([
    ["app=payments", true],
    ["app==payments", true],
    ["app=orders", false],
    ["app=payments,tier=web", true],
    ["app=payments,tier=batch", false],
    ["tier!=batch", true],
    ["tier!=web", false],
    ["missing!=x", true],
    ["canary", false],
    ["tier", true],
    ["!canary", true],
    ["!tier", false],
    ["app.kubernetes.io/name=pay", true],
    [" app = payments , tier ", true],
    ["", true],
  ])("%j matches: %s", (text, expected) => {
    expect(selectorMatches(parseSelector(text), labels)).toBe(expected);
  });

  it("canonicalises the text", () => {
    expect(parseSelector(" app == payments , !legacy,tier ").text).toBe("app=payments,!legacy,tier");
  });

  it.each([
    ["app=pay ments", /not a label value/],
    ["=x", /not a label key/],
    ["a b=c", /not a label key/],
    ["app=payments,", /not a label key/],
    ["app=-x", /not a label value/],
    ["app=x;DROP", /not a label value/],
  ])("refuses %j", (text, message) => {
    expect(() => parseSelector(text)).toThrow(SelectorError);
    expect(() => parseSelector(text)).toThrow(message);
  });
});
