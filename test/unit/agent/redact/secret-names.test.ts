import { describe, expect, it } from "vitest";
import { classifyName, nameSegments } from "../../../../agent/redact/secret-names.js";

describe("nameSegments", () => {
  it("splits on separators and camelCase, lower-cased", () => {
    expect(nameSegments("awsSecretAccessKey")).toEqual(["aws", "secret", "access", "key"]);
    expect(nameSegments("X-Api-Key")).toEqual(["x", "api", "key"]);
    expect(nameSegments("APIKey")).toEqual(["api", "key"]);
    expect(nameSegments("db.password")).toEqual(["db", "password"]);
    expect(nameSegments("OAuth2Token")).toEqual(["o", "auth2", "token"]);
  });
});

describe("classifyName", () => {
  const secret = [
    "GITHUB_TOKEN",
    "DB_PASSWORD",
    "awsSecretAccessKey",
    "AWS_SECRET_ACCESS_KEY",
    "DEMO_API_KEY",
    "apiKey",
    "api-key",
    "APIKEY",
    "X-Api-Key",
    "STRIPE_KEY",
    "PRIVATE_KEY",
    "SSH_PRIVATE_KEY",
    "MYSQL_PWD",
    "DB_PASS",
    "PGPASSWORD",
    "REDIS_PASSWD",
    "CLIENT_SECRET",
    "SESSION_SECRET",
    "SESSION",
    "cookie",
    "Set-Cookie",
    "Authorization",
    "BASIC_AUTH",
    "SENTRY_DSN",
    "JWT",
    "WEBHOOK_SIGNATURE",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON",
    "ENCRYPTION_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "passphrase",
    "HASH_SALT",
    "key",
  ];
  it.each(secret)("%s is a secret", (name) => {
    expect(classifyName(name)).toEqual({ secret: true, reference: false });
  });

  const notSecret = [
    "AUTHOR",
    "TOKENIZER_PATH",
    "NODE_ENV",
    "HOME",
    "PATH",
    "PORT",
    "DATABASE_URL",
    "PUBLIC_KEY",
    "SORT_KEY",
    "CACHE_KEY_PREFIX",
    "KEYBOARD_LAYOUT",
    "BYPASS_CACHE",
    "COMPASS_URL",
    "PASSENGER_COUNT",
    "OAUTH_CLIENT_ID",
  ];
  it.each(notSecret)("%s is not a secret", (name) => {
    expect(classifyName(name).secret).toBe(false);
  });

  const references = [
    "SECRET_NAME",
    "PASSWORD_FILE",
    "TOKEN_PATH",
    "API_KEY_ID",
    "AWS_ACCESS_KEY_ID",
    "PASSWORD_MIN_LENGTH",
    "SESSION_TIMEOUT",
    "TOKEN_TTL",
    "AUTH_ENABLED",
    "SECRETS_DIR",
    "SESSION_COOKIE_NAME",
    "AUTH_HEADER",
  ];
  it.each(references)("%s refers to a secret without holding it", (name) => {
    expect(classifyName(name)).toEqual({ secret: true, reference: true });
  });
});

describe("other languages' secret words (issue 17)", () => {
  it("every translated word is found by the name rule's scan and masks its value", async () => {
    const { TRANSLATED_WORDS, nameSegments } = await import("../../../../agent/redact/secret-names.js");
    const { maskKeyValues } = await import("../../../../agent/redact/key-values.js");
    // (`privada`, `privée`… say "private", a secret only beside "key": not a name of their own.)
    const words = TRANSLATED_WORDS.filter(
      (w) => (w.length >= 4 || w.charCodeAt(0) > 127) && nameSegments(w)[0] !== "private",
    );
    for (const word of words) {
      const name = `db_${word}`;
      expect(
        maskKeyValues(`${name}=Xk3pQ9aLm2Zq`, () => "[m]"),
        name,
      ).toBe(`${name}=[m]`);
    }
  });
});
