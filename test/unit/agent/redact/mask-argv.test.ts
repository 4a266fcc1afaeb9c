import { describe, expect, it } from "vitest";
import { expand, redactor } from "./samples.js";

const FP = "[0-9a-f]{12}";

describe("maskArgv", () => {
  it("masks --flag=value and --flag value when the flag names a secret", () => {
    const r = redactor();
    const out = r.maskArgv([
      "node",
      "server.js",
      "--password=hunter2hunter2",
      "--api-key",
      "abc123def456",
      "--port",
      "8080",
      "--verbose",
    ]);
    expect(out.slice(0, 2)).toEqual(["node", "server.js"]);
    expect(out[2]).toMatch(new RegExp(`^--password=⟦masked:secret-flag:${FP}⟧$`));
    expect(out[3]).toBe("--api-key");
    expect(out[4]).toMatch(new RegExp(`^⟦masked:secret-flag:${FP}⟧$`));
    expect(out.slice(5)).toEqual(["--port", "8080", "--verbose"]);
  });

  it("does not swallow the next flag after a secret flag with no value", () => {
    const r = redactor();
    expect(r.maskArgv(["app", "--token", "--debug"])).toEqual(["app", "--token", "--debug"]);
  });

  it("keeps plain values of secret-sounding flags", () => {
    const r = redactor();
    const argv = ["app", "--password-file", "/run/secrets/db", "--token-ttl=3600", "--auth", "true"];
    expect(r.maskArgv(argv)).toEqual(argv);
  });

  it("masks URL credentials and tokens in any argument, keeping the rest", () => {
    const r = redactor();
    const token = expand("npm_{alnum:36}", 3);
    const out = r.maskArgv(["app", "--db=postgres://app:s3cr3t-pass@db:5432/app", token]);
    expect(out[1]).toMatch(new RegExp(`^--db=postgres://app:⟦masked:url-credentials:${FP}⟧@db:5432/app$`));
    expect(out[2]).toMatch(new RegExp(`^⟦masked:npm-token:${FP}⟧$`));
  });

  it("masks known values in arguments", () => {
    const r = redactor();
    r.remember("value-from-the-env-1234");
    expect(r.maskArgv(["app", "value-from-the-env-1234", "other"])).toEqual([
      "app",
      `⟦masked:known-value:${r.fingerprint("value-from-the-env-1234")}⟧`,
      "other",
    ]);
  });

  it("keeps an argv without secrets unchanged", () => {
    const r = redactor();
    const argv = ["/usr/bin/node", "--max-old-space-size=512", "/app/server.js", "--port", "8080"];
    expect(r.maskArgv(argv)).toEqual(argv);
  });
});

describe("finding 6: a secret flag's value that starts with '-'", () => {
  it("finding 6: --db-password -Xk9… is the flag's value, masked, not the next flag", () => {
    const r = redactor();
    const out = r.maskArgv(["app", "--db-password", "-Xk9vQ2mZ7pL", "--port", "8080"]);
    expect(out[2]).toMatch(new RegExp(`^⟦masked:secret-flag:${FP}⟧$`));
    expect(out.slice(3)).toEqual(["--port", "8080"]);
    expect(r.maskArgv(["app", "--token", "--Zq8-Wx3yT"])[2]).toMatch(
      new RegExp(`^⟦masked:secret-flag:${FP}⟧$`),
    );
    expect(r.maskArgv(["app", "-p", "-a1b2C3d4"])).toEqual(["app", "-p", "-a1b2C3d4"]);
  });

  it("still reads a plain next flag as a flag", () => {
    const r = redactor();
    for (const next of ["--debug", "-v", "-vv", "--", "--log-level=debug", "--max-old-space-size=512"]) {
      expect(r.maskArgv(["app", "--password", next]), next).toEqual(["app", "--password", next]);
    }
  });
});
