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

describe("learnOnce", () => {
  it("runs once per key across the redactor and its counting views, uncounted, and the learned values mask everywhere", () => {
    const r = redactor();
    const secret = "s3cr3t-value-for-learning";
    const views = [r.counting(), r.counting()];
    let runs = 0;
    for (const view of views)
      view.learnOnce("pid:1", (base) => {
        runs++;
        base.maskEnv("DB_PASSWORD", secret);
        base.remember(secret);
      });
    r.learnOnce("pid:1", () => runs++);
    expect(runs).toBe(1);
    expect(views.map((v) => v.counts())).toEqual([{}, {}]);
    expect(views[1]!.maskText(`x ${secret} y`)).not.toContain(secret);
    expect(views[1]!.counts()).toEqual({ "known-value": 1 });
  });

  it("learns again after a failed attempt, and for another key", () => {
    const r = redactor();
    let runs = 0;
    expect(() =>
      r.learnOnce("pid:2", () => {
        runs++;
        throw new Error("environ unreadable");
      }),
    ).toThrow();
    r.learnOnce("pid:2", () => runs++);
    r.learnOnce("pid:3", () => runs++);
    r.learnOnce("pid:2", () => runs++);
    expect(runs).toBe(3);
  });
});
