/**
 * Test signer: real Ed25519 keys and real compact JWS made with jose, an implementation independent
 * of the agent's own verifier.
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { CompactSign, exportJWK } from "jose";
import { parseTrustedKeys, type TrustedKeys } from "../../agent/trusted-keys.js";
import { REQUEST_ALG, REQUEST_TYP, type RequestClaims } from "../../protocol/request.js";

export interface TestSigner {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwks: { keys: Record<string, unknown>[] };
  readonly trustedKeys: TrustedKeys;
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function makeSigner(kid = "test-key-1"): Promise<TestSigner> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: REQUEST_ALG, use: "sig" };
  const jwks = { keys: [jwk] };
  return {
    kid,
    privateKey,
    jwks,
    trustedKeys: parseTrustedKeys(JSON.stringify(jwks), "test jwks"),
    sign: (claims, header = {}) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid, ...header } as never)
        .sign(privateKey),
  };
}

export function newJti(): string {
  return randomBytes(16).toString("base64url");
}

/** A valid claim set for `agentId` in `env`, issued at `nowSeconds`. */
export function claimsFor(
  overrides: Partial<RequestClaims> & Record<string, unknown> = {},
  { agentId = "staging/shop/shop-0", env = "staging", nowSeconds = Math.floor(Date.now() / 1000) } = {},
): Record<string, unknown> {
  return {
    iss: "keyhole-controller",
    sub: "user:alice@example.com",
    aud: agentId,
    env,
    iat: nowSeconds,
    exp: nowSeconds + 60,
    jti: newJti(),
    action: "process-info",
    params: {},
    reason: "test: checking memory",
    approvals: [],
    output: { mode: "inline" },
    ...overrides,
  };
}
