import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createFingerprinter } from "../../../../agent/redact/fingerprint.js";
import { isMarker, lineBreaksOf, mapOutsideMarkers, maskedMarker } from "../../../../agent/redact/markers.js";
import { KEY, OTHER_KEY } from "./samples.js";

describe("fingerprints", () => {
  it("are the first 12 hex digits of HMAC-SHA256(key, value)", () => {
    const expected = createHmac("sha256", KEY).update("db-password").digest("hex").slice(0, 12);
    expect(createFingerprinter(KEY)("db-password")).toBe(expected);
  });

  it("are stable for one key and differ across keys", () => {
    expect(createFingerprinter(KEY)("v")).toBe(createFingerprinter(new Uint8Array(KEY))("v"));
    expect(createFingerprinter(KEY)("v")).not.toBe(createFingerprinter(OTHER_KEY)("v"));
  });

  it("do not change when the caller reuses its key buffer", () => {
    const key = new Uint8Array(KEY);
    const fingerprint = createFingerprinter(key);
    const before = fingerprint("v");
    key.fill(0);
    expect(fingerprint("v")).toBe(before);
  });

  it("refuse an empty key", () => {
    expect(() => createFingerprinter(new Uint8Array(0))).toThrow(/empty/);
  });
});

describe("markers", () => {
  it("name the rule and fingerprint, and refuse rule ids that would make them ambiguous", () => {
    expect(maskedMarker("github-token", "0123456789ab")).toBe("⟦masked:github-token:0123456789ab⟧");
    expect(() => maskedMarker("Bad:rule", "0123456789ab")).toThrow(/rule id/);
  });

  it("are recognised whole, and stay opaque to the rules", () => {
    const marker = maskedMarker("secret-name", "0123456789ab");
    expect(isMarker(marker)).toBe(true);
    expect(isMarker(`${marker} `)).toBe(false);
    expect(mapOutsideMarkers(`a${marker}b${marker}`, (piece) => piece.toUpperCase())).toBe(
      `A${marker}B${marker}`,
    );
  });

  it("carry the line breaks of what they replace", () => {
    expect(lineBreaksOf("a\nb\r\nc")).toBe("\n\r\n");
  });
});
