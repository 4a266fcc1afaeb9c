import { describe, expect, it } from "vitest";
import { NAME_WORDS } from "../../../../agent/redact/key-values.js";
import { expand, redactor } from "./samples.js";

describe("audit counts", () => {
  it("maskTextWithStats counts markers per rule, never values", () => {
    const r = redactor();
    const text = `a ${expand("ghp_{alnum:36}", 1)} b password=hunter2hunter2 c ${expand("ghp_{alnum:36}", 2)}`;
    const { text: out, counts } = r.maskTextWithStats(text);
    expect(out).toBe(r.maskText(text));
    expect(counts).toEqual({ "github-token": 2, "secret-name": 1 });
    expect(JSON.stringify(counts)).not.toContain("hunter2");
  });

  it("counts nothing on already masked text", () => {
    const r = redactor();
    const once = r.maskText("password=hunter2hunter2");
    expect(r.maskTextWithStats(once).counts).toEqual({});
  });

  it("a counting view adds up maskText, maskEnv and maskArgv", () => {
    const r = redactor().counting();
    r.maskText("token: abc123def456");
    r.maskEnv("DB_PASSWORD", "hunter2hunter2");
    r.maskEnv("HOME", "/home/app");
    r.maskArgv(["app", "--api-key", "abc123def456", "postgres://u:pw123456@db/x"]);
    expect(r.counts()).toEqual({ "secret-name": 2, "secret-flag": 1, "url-credentials": 1 });
  });
});

describe("the name trigger", () => {
  it.each([
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "auth",
    "authorization",
    "credential",
    "creds",
    "session",
    "cookie",
    "signature",
    "dsn",
    "jwt",
    "salt",
    "bearer",
    "apikey",
    "privatekey",
    "accesskey",
    "connstr",
    "connection_string",
    "signing_key",
    "STRIPE_KEY",
  ])("wakes on every secret name: %s", (name) => {
    NAME_WORDS.lastIndex = 0;
    expect(NAME_WORDS.test(name)).toBe(true);
  });
});
