import { describe, expect, it } from "vitest";
import { createRedactor } from "../../../../agent/redact/index.js";
import { expand, KEY, MARKER, opaque, redactor } from "./samples.js";

describe("maskEnv: secret by name", () => {
  const r = redactor();

  it.each([
    ["DB_PASSWORD", "hunter2-hunter2"],
    ["DEMO_API_KEY", "demo-0123456789abcdef01234567"],
    ["awsSecretAccessKey", opaque(1, 40)],
    ["SESSION_SECRET", "correct horse battery staple"],
    ["MYSQL_PWD", "x"],
    ["PIN_CODE_PASSWORD", "483920"],
  ])("%s is masked whole", (name, value) => {
    const masked = r.maskEnv(name, value);
    expect(masked.masked).toBe(true);
    expect(masked.rule).toBe("secret-name");
    expect(masked.value).toBe(`⟦masked:secret-name:${r.fingerprint(value)}⟧`);
    expect(masked.fingerprint).toBe(r.fingerprint(value));
  });

  it("keeps the name's rule for a value the redactor already knows (known-value-rule-depends-on-order)", () => {
    const fresh = redactor();
    const value = "demo-0123456789abcdef01234567";
    fresh.remember(value);
    expect(fresh.maskEnv("DEMO_API_KEY", value)).toMatchObject({
      rule: "secret-name",
      value: `⟦masked:secret-name:${fresh.fingerprint(value)}⟧`,
    });
  });

  it("names the detector when the whole value is a recognised token", () => {
    const token = expand("ghp_{alnum:36}", 8);
    const masked = r.maskEnv("GITHUB_TOKEN", token);
    expect(masked).toEqual({
      value: `⟦masked:github-token:${r.fingerprint(token)}⟧`,
      masked: true,
      rule: "github-token",
      fingerprint: r.fingerprint(token),
    });
  });

  it("keeps the Bearer word of a secret-named header value", () => {
    const masked = r.maskEnv("AUTHORIZATION", "Bearer abcdefghijklmnop");
    expect(masked.value).toMatch(/^Bearer ⟦masked:secret-name:[0-9a-f]{12}⟧$/);
  });

  it("masks the user of a user-only URL under a secret name (a Sentry DSN), keeping host and path", () => {
    const key = expand("{hex:32}", 2);
    const masked = r.maskEnv("SENTRY_DSN", `https://${key}@o123.ingest.example.io/42`);
    expect(masked.value).toMatch(
      /^https:\/\/⟦masked:url-userinfo:[0-9a-f]{12}⟧@o123\.ingest\.example\.io\/42$/,
    );
    expect(masked.value).not.toContain(key);
  });
});

describe("maskEnv: a base64 secret that happens to look like a path", () => {
  const r = redactor();
  // One base64 string in 64 starts with `/`; with more slashes inside it has a path's shape.
  it.each([
    ["VAULT_TOKEN", "/k8Qz+Tn2/Wq7Lp0Rv5Xm3Yb9Hc1Jd4Fg"],
    ["DB_PASSWORD", "/C3ZxLK6NIqSlw/irsJ61PVENROKJiOm1HxIsbif+vU"],
  ])("%s is masked", (name, value) => {
    const masked = r.maskEnv(name, value);
    expect(masked.masked).toBe(true);
    expect(masked.value).not.toContain(value);
  });
  it("masks it as the signature of a URL too", () => {
    const sig = "/C3ZxLK6NIqSlw/irsJ61PVENROKJiOm1HxIsbif+vU%3D";
    expect(
      r.maskText(`https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=${sig}&se=2030`),
    ).not.toContain(sig);
  });
});

describe("maskEnv: plainly not secrets, even under a secret name", () => {
  const r = redactor();
  it.each([
    ["PASSWORD_MIN_LENGTH", "12"],
    ["TOKEN_REFRESH_SECONDS", "86400"],
    ["SESSION_TIMEOUT", "30s"],
    ["TOKEN_LIFETIME", "1h30m"],
    ["AUTH_ENABLED", "true"],
    ["COOKIE_SECURE", "false"],
    ["PASSWORD_FILE", "/run/secrets/x"],
    ["TOKEN_CACHE_DIR", "/tmp/keyhole-demo-61fK2h/tokens/Cache2"],
    ["CREDENTIALS_PATH", "/var/lib/app/credentials/service-account-2024.json"],
    ["TOKEN_URL", "https://idp.example.com/oauth/token"],
    ["SECRET_NAME", "db-credentials"],
    ["API_KEY_ID", "key-2024-05"],
    ["DB_PASSWORD", ""],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} reference is the case under test
    ["DB_PASSWORD", "${DB_PASSWORD}"],
    ["DB_PASSWORD", "$(DB_PASSWORD)"],
    ["SESSION_STORE", "redis"],
    ["AUTH_MODE", "oidc"],
  ])("%s=%s is shown", (name, value) => {
    expect(r.maskEnv(name, value)).toEqual({ value, masked: false });
  });
});

describe("maskEnv: secret by shape, whatever the name", () => {
  const r = redactor();

  it("masks only the password of DATABASE_URL", () => {
    const masked = r.maskEnv("DATABASE_URL", "postgres://app:s3cr3t-pass@db:5432/app");
    expect(masked.masked).toBe(true);
    expect(masked.rule).toBe("url-credentials");
    expect(masked.value).toBe(
      `postgres://app:⟦masked:url-credentials:${r.fingerprint("s3cr3t-pass")}⟧@db:5432/app`,
    );
    // The entry's fingerprint is of the whole value, so two pods with the same URL compare equal.
    expect(masked.fingerprint).toBe(r.fingerprint("postgres://app:s3cr3t-pass@db:5432/app"));
  });

  it("masks a token under an innocent name", () => {
    const token = expand("xoxb-{digit:12}-{digit:12}-{alnum:24}", 4);
    expect(r.maskEnv("NOTES", `ping ${token} later`).value).toMatch(
      /^ping ⟦masked:slack-token:[0-9a-f]{12}⟧ later$/,
    );
  });

  it("masks a secret key=value inside an innocent variable", () => {
    const masked = r.maskEnv("JAVA_OPTS", "-Xmx512m -Ddb.password=hunter2hunter2 -Dfile.encoding=UTF-8");
    expect(masked.value).toMatch(
      /^-Xmx512m -Ddb\.password=⟦masked:secret-name:[0-9a-f]{12}⟧ -Dfile\.encoding=UTF-8$/,
    );
  });

  it("masks an AWS access key id even under a reference name", () => {
    const id = expand("AKIA{b32:16}", 6);
    expect(r.maskEnv("AWS_ACCESS_KEY_ID", id).rule).toBe("aws-access-key-id");
  });

  it.each([
    ["NODE_ENV", "production"],
    ["HOME", "/home/app"],
    ["PATH", "/usr/local/bin:/usr/bin:/bin"],
    ["GIT_SHA", "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"],
    ["REQUEST_ID", "6f1c2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f"],
    ["NODE_OPTIONS", "--max-old-space-size=4096 --enable-source-maps"],
    ["LANG", "C.UTF-8"],
    ["REDIS_URL", "redis://cache.internal:6379/0"],
    ["BARE", ""],
  ])("%s=%s is shown", (name, value) => {
    expect(r.maskEnv(name, value)).toEqual({ value, masked: false });
  });
});

describe("fingerprints", () => {
  it("are stable for the same key and value, and differ for another key", () => {
    const a = createRedactor({ fingerprintKey: KEY });
    const b = createRedactor({ fingerprintKey: new Uint8Array(KEY) });
    const c = createRedactor({ fingerprintKey: new Uint8Array(32).fill(8) });
    const value = "same-password-everywhere";
    const fp = (r: typeof a) => r.maskEnv("DB_PASSWORD", value).value.match(MARKER)?.[2];
    expect(fp(a)).toBe(fp(b));
    expect(fp(a)).not.toBe(fp(c));
    expect(fp(a)).toMatch(/^[0-9a-f]{12}$/);
  });

  it("differ for different values", () => {
    const r = redactor();
    expect(r.fingerprint("value-one")).not.toBe(r.fingerprint("value-two"));
  });
});
