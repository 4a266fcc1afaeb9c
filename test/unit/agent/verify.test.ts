import { generateKeyPairSync, sign as rawSign } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { type ActionDefinition, defineAction } from "../../../agent/actions/types.js";
import { AgentError } from "../../../agent/errors.js";
import { ReplayCache } from "../../../agent/replay-cache.js";
import { type VerifierOptions, verifyEnvelope } from "../../../agent/verify.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const NOW_S = NOW / 1000;

const echo = defineAction({
  name: "process-info",
  description: "test action",
  params: z.strictObject({ lines: z.number().int().max(10).optional() }),
  outputs: ["inline"],
  limits: { timeoutMs: 1000, maxConcurrency: 1, maxOutputBytes: 1000 },
  run: async () => ({}),
});

let signer: TestSigner;
let options: VerifierOptions;

function expectCode(fn: () => unknown, code: string): AgentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe(code);
    return err as AgentError;
  }
  throw new Error(`expected ${code}, but verification passed`);
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
  signer = await makeSigner();
  options = {
    agentId: "staging/shop/shop-0",
    environment: "staging",
    trustedKeys: signer.trustedKeys,
    maxTtlSeconds: 300,
    bodyLimitBytes: 64 * 1024,
    replayCache: new ReplayCache(100),
    actions: new Map([["process-info", echo as ActionDefinition]]),
  };
});
afterEach(() => vi.useRealTimers());

const claims = (overrides: Record<string, unknown> = {}) => claimsFor(overrides, { nowSeconds: NOW_S });

describe("verifyEnvelope accepts", () => {
  it("a valid envelope, returning claims, action and parsed params", async () => {
    const jws = await signer.sign(
      claims({ params: { lines: 3 }, ticket: "INC-1", approvals: ["user:bob@example.com"] }),
    );
    const verified = verifyEnvelope(jws, options);
    expect(verified.kid).toBe(signer.kid);
    expect(verified.action.name).toBe("process-info");
    expect(verified.params).toEqual({ lines: 3 });
    expect(verified.claims.approvals).toEqual(["user:bob@example.com"]);
  });

  it("iat up to 30 s in the future (clock skew) and a TTL of exactly the maximum", async () => {
    verifyEnvelope(await signer.sign(claims({ iat: NOW_S + 30, exp: NOW_S + 90 })), options);
    verifyEnvelope(await signer.sign(claims({ iat: NOW_S - 10, exp: NOW_S + 290 })), options);
  });
});

describe("verifyEnvelope refuses, each with its code", () => {
  it("KH_TOO_LARGE: a body over the limit", () => {
    expectCode(() => verifyEnvelope("a".repeat(64 * 1024 + 1), options), "KH_TOO_LARGE");
  });

  it.each([
    ["empty", ""],
    ["two parts", "abc.def"],
    ["four parts", "a.b.c.d"],
    ["padding", "abc=.def.ghi"],
    ["whitespace", "abc.def.ghi\n"],
    ["JSON instead of JWS", '{"action":"env"}'],
  ])("KH_MALFORMED: not a compact JWS (%s)", (_name, body) => {
    expectCode(() => verifyEnvelope(body, options), "KH_MALFORMED");
  });

  it("KH_MALFORMED: a header that is not JSON, or not an object", () => {
    expectCode(() => verifyEnvelope(`${b64("not json")}.${b64({})}.${b64("x")}`, options), "KH_MALFORMED");
    expectCode(() => verifyEnvelope(`${b64([1])}.${b64({})}.${b64("x")}`, options), "KH_MALFORMED");
  });

  it.each([
    ["alg none", { alg: "none" }],
    ["alg HS256", { alg: "HS256" }],
    ["typ JWT", { typ: "JWT" }],
    ["crit", { crit: ["b64"], b64: false }],
    ["jku", { jku: "http://evil.example/jwks" }],
  ])("KH_BAD_SIGNATURE: header %s", async (_name, header) => {
    // jose refuses to sign some of these, so build the header by hand with a real signature.
    const payload = b64(claims());
    const h = b64({ alg: "EdDSA", typ: "keyhole-request+jwt", kid: signer.kid, ...header });
    const sig = rawSign(null, Buffer.from(`${h}.${payload}`), signer.privateKey).toString("base64url");
    expectCode(() => verifyEnvelope(`${h}.${payload}.${sig}`, options), "KH_BAD_SIGNATURE");
  });

  it("KH_BAD_SIGNATURE: an unknown kid, a key not pinned, a tampered payload, a short signature", async () => {
    expectCode(
      () =>
        verifyEnvelope(
          `${b64({ alg: "EdDSA", typ: "keyhole-request+jwt" })}.${b64(claims())}.${b64("s")}`,
          options,
        ),
      "KH_BAD_SIGNATURE",
    );
    const other = await makeSigner("other-key");
    const foreign = await other.sign(claims());
    expectCode(() => verifyEnvelope(foreign, options), "KH_BAD_SIGNATURE");
    const sameKidOtherKey = await (await makeSigner(signer.kid)).sign(claims());
    expectCode(() => verifyEnvelope(sameKidOtherKey, options), "KH_BAD_SIGNATURE");
    const [h, , s] = (await signer.sign(claims())).split(".");
    expectCode(
      () => verifyEnvelope(`${h}.${b64(claims({ action: "env" }))}.${s}`, options),
      "KH_BAD_SIGNATURE",
    );
    expectCode(() => verifyEnvelope(`${h}.${b64(claims())}.${s!.slice(0, 40)}`, options), "KH_BAD_SIGNATURE");
  });

  it("attack (issue 16, informational): a header or payload that repeats a name is KH_MALFORMED", async () => {
    // JSON.parse keeps the last of two equal names; another reader of the same token may keep the first.
    const sign = (h: string, p: string) =>
      `${h}.${p}.${rawSign(null, Buffer.from(`${h}.${p}`), signer.privateKey).toString("base64url")}`;
    const header = b64({ alg: "EdDSA", typ: "keyhole-request+jwt", kid: signer.kid });
    const body = JSON.stringify(claims());
    const twice = b64(body.replace('"action":"process-info"', '"action":"env","action":"process-info"'));
    expect(Buffer.from(twice, "base64url").toString()).toContain('"action":"env","action"');
    let err = expectCode(() => verifyEnvelope(sign(header, twice), options), "KH_MALFORMED");
    expect(err.message).toMatch(/names "action" more than once/);
    const headerTwice = b64(
      `{"alg":"EdDSA","typ":"keyhole-request+jwt","kid":"elsewhere","kid":${JSON.stringify(signer.kid)}}`,
    );
    err = expectCode(() => verifyEnvelope(sign(headerTwice, b64(body)), options), "KH_MALFORMED");
    expect(err.message).toMatch(/JWS header names "kid"/);
    // The same envelope without the repetition is accepted.
    expect(verifyEnvelope(sign(header, b64(body)), options).claims.action).toBe("process-info");
  });

  it("attack (issue 16, informational): a jti with control characters or spaces is KH_MALFORMED", async () => {
    for (const jti of [
      "0123456789abcdef\u0000",
      "0123456789 abcdef",
      "0123456789abcdef\n",
      "0123456789abcdéf",
    ]) {
      const jws = await signer.sign(claims({ jti }));
      expectCode(() => verifyEnvelope(jws, options), "KH_MALFORMED");
    }
    expect(
      verifyEnvelope(await signer.sign(claims({ jti: "0123456789abcdef-_~!" })), options).claims.jti,
    ).toBe("0123456789abcdef-_~!");
  });

  it("KH_BAD_SIGNATURE comes before any claim check (a forged expired envelope says bad signature)", async () => {
    const other = await makeSigner(signer.kid);
    const forged = await other.sign(claims({ exp: NOW_S - 100, aud: "elsewhere" }));
    expectCode(() => verifyEnvelope(forged, options), "KH_BAD_SIGNATURE");
  });

  it.each([
    ["an unknown claim", { admin: true }],
    ["a missing reason", { reason: undefined }],
    ["an empty reason", { reason: "   " }],
    ["a reason over 500 characters", { reason: "x".repeat(501) }],
    ["a short jti", { jti: "short" }],
    ["a bad subject", { sub: "root" }],
    ["exp as a string", { exp: String(NOW_S + 60) }],
    ["params not an object", { params: [] }],
    ["an unknown output mode", { output: { mode: "ftp" } }],
    ["a malformed traceparent", { traceparent: "nope" }],
  ])("KH_MALFORMED: claims with %s", async (_name, overrides) => {
    const jws = await signer.sign(claims(overrides));
    expectCode(() => verifyEnvelope(jws, options), "KH_MALFORMED");
  });

  it("KH_EXPIRED: exp equal to now or in the past (fake clock)", async () => {
    const jws = await signer.sign(claims({ iat: NOW_S - 60, exp: NOW_S + 5 }));
    verifyEnvelope(jws, { ...options, replayCache: new ReplayCache(10) });
    vi.advanceTimersByTime(5_000);
    expectCode(() => verifyEnvelope(jws, options), "KH_EXPIRED");
  });

  it("KH_NOT_YET_VALID: iat more than 30 s ahead", async () => {
    const jws = await signer.sign(claims({ iat: NOW_S + 31, exp: NOW_S + 60 }));
    expectCode(() => verifyEnvelope(jws, options), "KH_NOT_YET_VALID");
  });

  it("KH_TTL_TOO_LONG: exp - iat over the agent's maximum", async () => {
    const jws = await signer.sign(claims({ iat: NOW_S, exp: NOW_S + 301 }));
    expectCode(() => verifyEnvelope(jws, options), "KH_TTL_TOO_LONG");
    expectCode(() => verifyEnvelope(jws, { ...options, maxTtlSeconds: 300 }), "KH_TTL_TOO_LONG");
    verifyEnvelope(jws, { ...options, maxTtlSeconds: 301 });
  });

  it("KH_WRONG_AUDIENCE and KH_WRONG_ENVIRONMENT: exact matches only", async () => {
    for (const aud of ["staging/shop/shop-1", "STAGING/shop/shop-0", "staging/shop/shop-0 "]) {
      const jws = await signer.sign(claims({ aud }));
      expectCode(() => verifyEnvelope(jws, options), "KH_WRONG_AUDIENCE");
    }
    const prod = await signer.sign(claims({ env: "production" }));
    expectCode(() => verifyEnvelope(prod, options), "KH_WRONG_ENVIRONMENT");
  });

  it("KH_REPLAY: the same envelope twice", async () => {
    const jws = await signer.sign(claims());
    verifyEnvelope(jws, options);
    expectCode(() => verifyEnvelope(jws, options), "KH_REPLAY");
  });

  it("KH_BUSY: the replay cache is full of unexpired requests", async () => {
    const small = { ...options, replayCache: new ReplayCache(16, 0) };
    for (let i = 0; i < 16; i++) verifyEnvelope(await signer.sign(claims()), small);
    const next = await signer.sign(claims());
    expectCode(() => verifyEnvelope(next, small), "KH_BUSY");
  });

  it("KH_ACTION_DISABLED: an action not enabled here", async () => {
    const jws = await signer.sign(claims({ action: "heap-snapshot" }));
    expectCode(() => verifyEnvelope(jws, options), "KH_ACTION_DISABLED");
  });

  it("KH_BAD_PARAMS: unknown params, wrong types, and an output mode the action lacks", async () => {
    for (const params of [{ extra: 1 }, { lines: "3" }, { lines: 11 }]) {
      const jws = await signer.sign(claims({ params }));
      expectCode(() => verifyEnvelope(jws, options), "KH_BAD_PARAMS");
    }
    const stream = await signer.sign(claims({ output: { mode: "stream" } }));
    expectCode(() => verifyEnvelope(stream, options), "KH_BAD_PARAMS");
  });

  it("checks in SPEC order: an expired envelope for another agent says expired; a replay of a disabled action says replay", async () => {
    const both = await signer.sign(claims({ exp: NOW_S - 1, iat: NOW_S - 60, aud: "other" }));
    expectCode(() => verifyEnvelope(both, options), "KH_EXPIRED");
    const disabled = await signer.sign(claims({ action: "heap-snapshot" }));
    expectCode(() => verifyEnvelope(disabled, options), "KH_ACTION_DISABLED");
    expectCode(() => verifyEnvelope(disabled, options), "KH_REPLAY");
  });
});

describe("trusted keys", () => {
  it("refuses a JWKS holding a private key, a non-Ed25519 key, or no key", async () => {
    const { parseTrustedKeys } = await import("../../../agent/trusted-keys.js");
    const { privateKey } = generateKeyPairSync("ed25519");
    const priv = privateKey.export({ format: "jwk" });
    expect(() => parseTrustedKeys(JSON.stringify({ keys: [{ ...priv, kid: "k" }] }), "f")).toThrow(
      /private key/,
    );
    expect(() =>
      parseTrustedKeys(JSON.stringify({ keys: [{ kty: "RSA", kid: "k", n: "x", e: "AQAB" }] }), "f"),
    ).toThrow(/kty/);
    expect(() => parseTrustedKeys(JSON.stringify({ keys: [] }), "f")).toThrow(/no keys/);
    expect(() => parseTrustedKeys("{", "f")).toThrow(/not valid JSON/);
  });
});
