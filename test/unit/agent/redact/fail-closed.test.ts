import { describe, expect, it } from "vitest";
import { createRedactor, DETECTORS, type Detector, WITHHELD_MARKER } from "../../../../agent/redact/index.js";
import { KEY } from "./samples.js";

/** A detector whose check throws on any candidate containing "boom". */
const EXPLODING: Detector = {
  id: "exploding",
  description: "Throws, to prove the engine fails closed.",
  pattern: /[a-z]{4,40}/dg,
  validate: (candidate) => {
    if (candidate.includes("boom")) throw new Error("detector bug");
    return false;
  },
  samples: ["boom"],
};

const r = createRedactor({ fingerprintKey: KEY, detectors: [...DETECTORS, EXPLODING] });

describe("failing closed", () => {
  it("withholds every line of a text whose masking throws, keeping the line count", () => {
    const text = "first line\npassword hunter2 boom\n\nlast";
    expect(r.maskText(text)).toBe(`${WITHHELD_MARKER}\n${WITHHELD_MARKER}\n\n${WITHHELD_MARKER}`);
  });

  it("still masks text the failing rule does not trip on", () => {
    expect(r.maskText("all quiet here")).toBe("all quiet here");
  });

  it("withholds an env value whose masking throws", () => {
    expect(r.maskEnv("NOTES", "kaboom")).toEqual({
      value: WITHHELD_MARKER,
      masked: true,
      rule: "redaction-error",
      fingerprint: r.fingerprint("kaboom"),
    });
  });

  it("withholds only the argument whose masking throws", () => {
    expect(r.maskArgv(["app", "kaboom", "--port", "80"])).toEqual(["app", WITHHELD_MARKER, "--port", "80"]);
  });

  it("never returns the raw text when a rule throws", () => {
    for (const out of [
      r.maskText("secret boom"),
      r.maskEnv("X", "secret boom").value,
      ...r.maskArgv(["secret boom"]),
    ]) {
      expect(out).not.toContain("secret");
    }
  });
});
