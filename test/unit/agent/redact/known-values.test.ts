import { describe, expect, it } from "vitest";
import { base64Cores } from "../../../../agent/redact/known-encodings.js";
import { threadCpuMs } from "../../../helpers/thread-cpu.js";
import { redactor, rulesIn } from "./samples.js";

const SECRET = 'Tr0ub4dor&3 "x"/y';

describe("known values in their encodings", () => {
  const r = redactor();
  r.remember(SECRET);
  const fp = r.fingerprint(SECRET);

  it.each([
    ["verbatim", `pw ${SECRET} end`],
    ["JSON-escaped", `{"note":"${JSON.stringify(SECRET).slice(1, -1)}"}`],
    ["URL-encoded", `GET /x?q=${encodeURIComponent(SECRET)}&a=1`],
    ["form-encoded", `body q=${encodeURIComponent(SECRET).replace(/%20/g, "+")}`],
  ])("%s: masked with the value's own fingerprint", (_, text) => {
    const out = r.maskText(text);
    expect(out).toContain(`⟦masked:known-value:${fp}⟧`);
    expect(out).not.toContain("Tr0ub4dor");
  });

  it.each([
    ["base64", Buffer.from(SECRET).toString("base64")],
    ["base64url", Buffer.from(SECRET).toString("base64url")],
    ["base64 of user:password (Basic)", Buffer.from(`admin:${SECRET}`).toString("base64")],
    ["base64 of a longer document", Buffer.from(`{"user":"svc","password":"${SECRET}"}`).toString("base64")],
  ])("%s: the whole encoded run is masked", (_, encoded) => {
    const out = r.maskText(`blob ${encoded} end`);
    expect(rulesIn(out).length).toBe(1);
    expect(out).toMatch(/^blob ⟦masked:[a-z-]{1,40}:[0-9a-f]{12}⟧ end$/);
  });

  it("masks the base64 of user:pass in an Authorization header even when short", () => {
    const r2 = redactor();
    r2.remember("s3cr3t-pw");
    const out = r2.maskText(`Authorization: Basic ${Buffer.from("bob:s3cr3t-pw").toString("base64")}`);
    expect(out).toMatch(/^Authorization: Basic ⟦masked:[a-z-]{1,40}:[0-9a-f]{12}⟧$/);
  });

  it("base64 cores cover all three alignments", () => {
    const cores = base64Cores("abcdefghij", "base64");
    expect(cores).toHaveLength(3);
    for (const prefix of ["", "x", "xy", "xyz"]) {
      const encoded = Buffer.from(`${prefix}abcdefghij!`).toString("base64");
      expect(cores.some((core) => encoded.includes(core))).toBe(true);
    }
  });
});

describe("short known values", () => {
  const r = redactor();
  r.remember("4821x");

  // (`pin` became a secret name in issue 17: `ref` is a key that says nothing.)
  it.each(["ref=4821x", 'code: "4821x"', '{"otp":"4821x"}', "a=1&ref=4821x&b=2"])(
    "are masked as the whole value of a key: %s",
    (text) => {
      expect(rulesIn(r.maskText(text))).toEqual(["known-value"]);
    },
  );

  it.each(["order 4821x shipped", "id=4821xyz", "x4821x"])("are left alone elsewhere: %s", (text) => {
    expect(r.maskText(text)).toBe(text);
  });
});

describe("many known values", () => {
  it("stay fast: 1000 values, 1 MB of text", () => {
    const r = redactor();
    for (let i = 0; i < 1000; i++) r.remember(`known-secret-${i}-${(i * 2654435761) >>> 0}`);
    const text = "2024-05-01T10:00:00Z INFO GET /api/orders?id=7 200 12ms pid=41 host=web-1\n".repeat(14_000);
    r.maskText("warm up");
    let out = "";
    expect(threadCpuMs(() => (out = r.maskText(text)))).toBeLessThan(2000);
    expect(out).toBe(text);
    expect(rulesIn(r.maskText(`a known-secret-999-${(999 * 2654435761) >>> 0} b`))).toEqual(["known-value"]);
  });
});
