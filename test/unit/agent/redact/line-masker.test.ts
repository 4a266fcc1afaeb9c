import { describe, expect, it } from "vitest";
import { createLineMasker } from "../../../../agent/redact/index.js";
import { expand, redactor } from "./samples.js";

describe("createLineMasker", () => {
  it("masks every line of a PEM block fed line by line, keeping the armour and other lines", () => {
    const body = [expand("{b64:64}", 1), expand("{b64:64}", 2), expand("{b64:9}=", 3)];
    const lines = [
      "before",
      "-----BEGIN PRIVATE KEY-----",
      ...body,
      "-----END PRIVATE KEY----- after",
      "next",
    ];
    const mask = createLineMasker(redactor());
    const out = lines.map(mask);
    expect(out[0]).toBe("before");
    expect(out[1]).toBe("-----BEGIN PRIVATE KEY-----");
    for (const [i, line] of body.entries()) {
      expect(out[2 + i]).toMatch(/^⟦masked:pem-private-key:[0-9a-f]{12}⟧$/);
      expect(out.join("\n")).not.toContain(line);
    }
    expect(out[5]).toBe("-----END PRIVATE KEY----- after");
    expect(out[6]).toBe("next");
  });
});
