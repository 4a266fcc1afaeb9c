import { describe, expect, it } from "vitest";
import { enrollRequestSchema } from "../../../protocol/fleet.js";

const base = {
  id: "staging/shop/shop-0",
  environment: "staging",
  port: 7701,
  // Shape only here: the controller checks the proof (issue 21).
  publicKey: "A".repeat(43),
  proof: { iat: 0, signature: "A".repeat(86) },
};

describe("an enrolling agent's advertised URL", () => {
  it.each([
    ["ESC and a screen clear", "http://127.0.0.1:7711/a\u001b[2J"],
    ["backtick, pipe and angle brackets", "http://127.0.0.1:7711/a|b`c<d>"],
    ["a space", "http://127.0.0.1:7711/a b"],
    ["a bidi override", "http://127.0.0.1:7711/\u202Eevil"],
    ["a C1 control", "http://127.0.0.1:7711/\u009B31m"],
  ])("attack (second pass, informational): %s is refused", (_name, url) => {
    expect(enrollRequestSchema.safeParse({ ...base, url }).success).toBe(false);
  });

  it("takes an ordinary http(s) URL: scheme, host and port", () => {
    for (const url of [
      "http://10.0.0.7:7701",
      "https://shop-0.agents.example.com:8443",
      "http://[fd00::7]:7070/",
    ]) {
      expect(enrollRequestSchema.safeParse({ ...base, url }).success, url).toBe(true);
    }
  });

  it("refuses a path, a query, a fragment or user info (issue 23, finding 4)", () => {
    for (const url of [
      "https://shop-0.agents.example.com:8443/keyhole/%7Ex",
      "http://127.0.0.1:8080/admin/internal-api?x=",
      "http://10.0.0.7:7070/?x=1",
      "http://10.0.0.7:7070?x=1",
      "http://10.0.0.7:7070#f",
      "http://user:pw@10.0.0.7:7070",
    ]) {
      expect(enrollRequestSchema.safeParse({ ...base, url }).success, url).toBe(false);
    }
  });
});
