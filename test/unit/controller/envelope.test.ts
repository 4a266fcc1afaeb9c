import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildClaims, signEnvelope } from "../../../controller/dispatch/envelope.js";
import { loadEnvironmentKeys, type SigningKey } from "../../../controller/keys.js";
import type { RequestRecord } from "../../../controller/store/types.js";
import { claimsSchema } from "../../../protocol/request.js";

const request: RequestRecord = {
  id: "r1",
  status: "approved",
  subject: "user:alice@example.com",
  action: "log-tail",
  target: "production/shop/shop-0",
  environment: "production",
  params: { file: "app.log", lines: 100 },
  reason: "INC-7 errors",
  ticket: "INC-7",
  output: "inline",
  approvalsRequired: 1,
  approvals: [{ subject: "user:bob@example.com", at: 1, note: undefined }],
  createdAt: 0,
  updatedAt: 0,
  expiresAt: 0,
  jti: undefined,
  kid: undefined,
  result: undefined,
  error: undefined,
  denial: undefined,
  artifactId: undefined,
  breakGlass: false,
  requester: undefined,
};

describe("the request envelope", () => {
  let dir: string;
  let keys: ReadonlyMap<string, SigningKey>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-env-"));
    keys = await loadEnvironmentKeys({ dataDir: dir, environments: ["production", "staging"], explicit: [] });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("carries exactly the protocol's claims", () => {
    const now = Date.parse("2030-01-01T00:00:00.900Z");
    const claims = buildClaims(request, { issuer: "ctl-1", ttlSeconds: 120, now });
    expect(claims).toEqual({
      iss: "ctl-1",
      sub: "user:alice@example.com",
      aud: "production/shop/shop-0",
      env: "production",
      iat: 1_893_456_000,
      exp: 1_893_456_120,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      action: "log-tail",
      params: { file: "app.log", lines: 100 },
      reason: "INC-7 errors",
      ticket: "INC-7",
      approvals: ["user:bob@example.com"],
      output: { mode: "inline" },
    });
    expect(claimsSchema.safeParse(claims).success).toBe(true);
    expect(buildClaims(request, { issuer: "ctl-1", ttlSeconds: 120, now }).jti).not.toBe(claims.jti);
    expect(
      "ticket" in buildClaims({ ...request, ticket: undefined }, { issuer: "c", ttlSeconds: 1, now }),
    ).toBe(false);
  });

  it("is signed EdDSA with typ keyhole-request+jwt and the environment's kid, verifiable with its pinned JWKS only", async () => {
    const prod = keys.get("production")!;
    const { jws, kid } = await signEnvelope(
      buildClaims(request, { issuer: "c", ttlSeconds: 60, now: Date.now() }),
      prod,
    );
    expect(decodeProtectedHeader(jws)).toEqual({ alg: "EdDSA", typ: "keyhole-request+jwt", kid: prod.kid });
    expect(kid).toBe(prod.kid);
    const { payload } = await compactVerify(jws, createLocalJWKSet(prod.jwks));
    expect(JSON.parse(new TextDecoder().decode(payload)).aud).toBe("production/shop/shop-0");
    // Staging's keys do not verify a production envelope.
    await expect(compactVerify(jws, createLocalJWKSet(keys.get("staging")!.jwks))).rejects.toThrow();
  });

  it("is byte for byte the JWS jose's CompactSign makes (Ed25519 is deterministic)", async () => {
    const prod = keys.get("production")!;
    const claims = buildClaims(request, { issuer: "c", ttlSeconds: 60, now: Date.now() });
    const { jws } = await signEnvelope(claims, prod);
    const reference = await new CompactSign(
      new TextEncoder().encode(JSON.stringify(claimsSchema.parse(claims))),
    )
      .setProtectedHeader({ alg: "EdDSA", typ: "keyhole-request+jwt", kid: prod.kid })
      .sign(prod.privateKey);
    expect(jws).toBe(reference);
  });

  it("refuses to sign claims the agent's schema would refuse", async () => {
    const claims = buildClaims(request, { issuer: "c", ttlSeconds: 60, now: Date.now() });
    await expect(signEnvelope({ ...claims, extra: 1 } as never, keys.get("production")!)).rejects.toThrow();
    expect(() =>
      buildClaims({ ...request, subject: "alice" }, { issuer: "c", ttlSeconds: 60, now: 0 }),
    ).toThrow();
  });
});
