/**
 * Building and signing the request envelope (SPEC section 2). The claims are checked against the
 * agent's own `claimsSchema` before signing, so the controller can never send what the agent's
 * contract does not describe.
 */
import { randomBytes, sign } from "node:crypto";
import {
  claimsSchema,
  type Output,
  REQUEST_ALG,
  REQUEST_TYP,
  type RequestClaims,
} from "../../protocol/request.js";
import type { SigningKey } from "../keys.js";
import type { RequestRecord } from "../store/types.js";

export interface Envelope {
  readonly jws: string;
  readonly claims: RequestClaims;
  readonly kid: string;
}

/**
 * The claims for one approved request, valid from `now` for `ttlSeconds`. `output` defaults to the
 * request's mode; the s3 mode needs the presigned upload, so its caller passes it in.
 */
export function buildClaims(
  request: RequestRecord,
  options: {
    issuer: string;
    ttlSeconds: number;
    now: number;
    output?: Output;
    traceparent?: string | undefined;
  },
): RequestClaims {
  if (request.output === "s3" && options.output?.mode !== "s3")
    throw new Error("an s3 request needs its presigned upload in the envelope");
  const iat = Math.floor(options.now / 1000);
  return claimsSchema.parse({
    iss: options.issuer,
    sub: request.subject,
    aud: request.target,
    env: request.environment,
    iat,
    exp: iat + options.ttlSeconds,
    // 16 random bytes: 22 base64url characters, above the agent's 16-character minimum.
    jti: randomBytes(16).toString("base64url"),
    action: request.action,
    params: request.params,
    reason: request.reason,
    ...(request.ticket === undefined ? {} : { ticket: request.ticket }),
    approvals: request.approvals.map((a) => a.subject),
    ...(request.breakGlass ? { breakGlass: true } : {}),
    output: options.output ?? { mode: request.output === "stream" ? "stream" : "inline" },
    // The dispatch span's W3C trace context: the agent continues the trace (OpenTelemetry on only).
    ...(options.traceparent ? { traceparent: options.traceparent } : {}),
  });
}

/** Signs claims as a compact JWS with the environment's Ed25519 key. */
export async function signEnvelope(claims: RequestClaims, key: SigningKey): Promise<Envelope> {
  const valid = claimsSchema.parse(claims);
  // Separate paths (SPEC principle 3): a key signs only for its own environment, whatever a caller
  // passes in, so a production envelope can never carry a non-production signature or the reverse.
  if (key.environment !== valid.env)
    throw new Error(`the "${key.environment}" key cannot sign a request for "${valid.env}"`);
  // RFC 7515 compact serialisation, signed with node:crypto directly: Ed25519 is deterministic, so
  // this is byte for byte what jose's CompactSign produces (a test holds the two equal), without
  // WebCrypto's per-call job overhead (about 1 ms of main-thread CPU per signature, which a
  // collection over hundreds of agents pays hundreds of times).
  const header = Buffer.from(JSON.stringify({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid: key.kid })).toString(
    "base64url",
  );
  const payload = Buffer.from(JSON.stringify(valid)).toString("base64url");
  const signature = sign(null, Buffer.from(`${header}.${payload}`), key.privateKey).toString("base64url");
  return { jws: `${header}.${payload}.${signature}`, claims: valid, kid: key.kid };
}
