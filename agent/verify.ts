/**
 * The envelope checks, in the order SPEC section 2 fixes: body size, JWS shape, header, signature,
 * time, audience/environment, replay, action enabled, params. Each refusal is a coded AgentError;
 * nothing of the request is acted on before every check has passed.
 *
 * Verification is written on node:crypto rather than jose: jose verifies through WebCrypto, whose
 * asynchronous dispatch made one verification 1.9x a bare `crypto.verify` of the same bytes
 * (bench/verify), while the compact-JWS rules the agent needs (one algorithm, one typ, pinned
 * keys, no JWS extensions) fit in this file.
 */
import { verify as verifySignature } from "node:crypto";
import type * as z from "zod";
import { repeatedJsonKey } from "../protocol/json-keys.js";
import {
  claimsSchema,
  MAX_CLOCK_SKEW_SECONDS,
  REQUEST_ALG,
  REQUEST_TYP,
  type RequestClaims,
} from "../protocol/request.js";
import type { ActionDefinition } from "./actions/types.js";
import { AgentError } from "./errors.js";
import type { ReplayGuard } from "./replay-cache.js";
import type { TrustedKeys } from "./trusted-keys.js";

export interface VerifierOptions {
  readonly agentId: string;
  readonly environment: string;
  readonly trustedKeys: TrustedKeys;
  readonly maxTtlSeconds: number;
  readonly bodyLimitBytes: number;
  readonly replayCache: ReplayGuard;
  /** The actions enabled on this agent. */
  readonly actions: ReadonlyMap<string, ActionDefinition>;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /**
   * Told the claims once the signature verified and they parsed, before the remaining checks: a
   * refusal after this point (expired, replayed, disabled action, …) is then recorded with who
   * asked for what, and its span joins the request's trace. It only observes.
   */
  readonly onAuthentic?: (claims: RequestClaims) => void;
}

export interface VerifiedRequest {
  readonly kid: string;
  readonly claims: RequestClaims;
  readonly action: ActionDefinition;
  readonly params: unknown;
}

const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
const HEADER_FIELDS = new Set(["alg", "typ", "kid"]);
const ED25519_SIGNATURE_BYTES = 64;

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  const text = Buffer.from(segment, "base64url").toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AgentError("KH_MALFORMED", `the ${what} is not base64url-encoded JSON`, { cause: err });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AgentError("KH_MALFORMED", `the ${what} is not a JSON object`);
  }
  // One meaning per envelope: JSON.parse would silently keep the last of two equal names.
  const repeated = repeatedJsonKey(text);
  if (repeated !== undefined) {
    throw new AgentError("KH_MALFORMED", `the ${what} names ${JSON.stringify(repeated)} more than once`);
  }
  return value as Record<string, unknown>;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/** Header: exactly `alg`, `typ`, `kid`; anything else (crit, b64, jku, x5u…) is a scheme we do not accept. */
function checkHeader(header: Record<string, unknown>): string {
  if (header.alg !== REQUEST_ALG) {
    throw new AgentError(
      "KH_BAD_SIGNATURE",
      `alg ${JSON.stringify(header.alg)} is not accepted; only ${REQUEST_ALG}`,
    );
  }
  if (header.typ !== REQUEST_TYP) {
    throw new AgentError(
      "KH_BAD_SIGNATURE",
      `typ ${JSON.stringify(header.typ)} is not accepted; only ${REQUEST_TYP}`,
    );
  }
  const extra = Object.keys(header).filter((k) => !HEADER_FIELDS.has(k));
  if (extra.length > 0) {
    throw new AgentError("KH_BAD_SIGNATURE", `header parameters not accepted: ${extra.join(", ")}`);
  }
  if (typeof header.kid !== "string" || header.kid.length === 0) {
    throw new AgentError("KH_BAD_SIGNATURE", "the header names no kid");
  }
  return header.kid;
}

/**
 * Verifies one compact JWS envelope and returns the request it carries, or throws the first
 * refusal. Records the `jti` in the replay cache once the envelope is authentic and current.
 */
export function verifyEnvelope(body: string, options: VerifierOptions): VerifiedRequest {
  if (Buffer.byteLength(body, "utf8") > options.bodyLimitBytes) {
    throw new AgentError("KH_TOO_LARGE", `the envelope exceeds ${options.bodyLimitBytes} bytes`);
  }

  const parts = COMPACT_JWS.exec(body);
  if (!parts)
    throw new AgentError("KH_MALFORMED", "the body is not one compact JWS (header.payload.signature)");
  const [, headerPart, payloadPart, signaturePart] = parts as unknown as [string, string, string, string];

  const kid = checkHeader(decodeJsonObject(headerPart, "JWS header"));

  const key = options.trustedKeys.get(kid);
  if (!key)
    throw new AgentError("KH_BAD_SIGNATURE", `kid ${JSON.stringify(kid)} is not among the trusted keys`);
  const signature = Buffer.from(signaturePart, "base64url");
  // One encoding per signature: a variant with other trailing bits would decode to the same bytes.
  if (signature.toString("base64url") !== signaturePart) {
    throw new AgentError("KH_BAD_SIGNATURE", "the signature is not canonical base64url");
  }
  const signingInput = Buffer.from(`${headerPart}.${payloadPart}`, "ascii");
  if (signature.length !== ED25519_SIGNATURE_BYTES || !verifySignature(null, signingInput, key, signature)) {
    throw new AgentError("KH_BAD_SIGNATURE", "the signature does not verify");
  }

  const parsed = claimsSchema.safeParse(decodeJsonObject(payloadPart, "JWS payload"));
  if (!parsed.success)
    throw new AgentError("KH_MALFORMED", `invalid claims: ${describeIssues(parsed.error)}`);
  const claims = parsed.data;
  options.onAuthentic?.(claims);

  const now = Math.floor((options.now ?? Date.now)() / 1000);
  if (claims.exp <= now) throw new AgentError("KH_EXPIRED", `the request expired ${now - claims.exp}s ago`);
  if (claims.iat > now + MAX_CLOCK_SKEW_SECONDS) {
    throw new AgentError("KH_NOT_YET_VALID", `iat is ${claims.iat - now}s in the future`);
  }
  if (claims.exp - claims.iat > options.maxTtlSeconds) {
    throw new AgentError(
      "KH_TTL_TOO_LONG",
      `exp - iat is ${claims.exp - claims.iat}s; this agent accepts at most ${options.maxTtlSeconds}s`,
    );
  }

  if (claims.aud !== options.agentId) {
    throw new AgentError(
      "KH_WRONG_AUDIENCE",
      `the request is addressed to ${JSON.stringify(claims.aud)}, not this agent`,
    );
  }
  if (claims.env !== options.environment) {
    throw new AgentError(
      "KH_WRONG_ENVIRONMENT",
      `the request is for environment ${JSON.stringify(claims.env)}; this agent serves ${JSON.stringify(options.environment)}`,
    );
  }

  const remembered = options.replayCache.remember(claims.jti, claims.exp, now, claims.iat);
  if (remembered === "replay") throw new AgentError("KH_REPLAY", "this jti was already used");
  if (remembered === "issued-before-start") {
    throw new AgentError(
      "KH_REPLAY",
      "the envelope was issued before this agent started, so an earlier run may have accepted it; ask again for a new one",
    );
  }
  if (remembered === "issued-near-unlogged-start") {
    throw new AgentError(
      "KH_REPLAY",
      `the envelope was issued less than ${MAX_CLOCK_SKEW_SECONDS}s after this agent started, and the agent found no replay log of earlier runs (its state dir is new, lost or unusable), so an earlier run may have accepted it; ask again for a new one (envelopes issued ${MAX_CLOCK_SKEW_SECONDS}s or more after the start are accepted)`,
    );
  }
  if (remembered === "full") {
    throw new AgentError("KH_BUSY", "the replay cache is full of unexpired requests; retry shortly");
  }

  const action = options.actions.get(claims.action);
  if (!action)
    throw new AgentError("KH_ACTION_DISABLED", `action ${JSON.stringify(claims.action)} is not enabled here`);

  const params = action.params.safeParse(claims.params);
  if (!params.success) {
    throw new AgentError(
      "KH_BAD_PARAMS",
      `invalid params for ${action.name}: ${describeIssues(params.error)}`,
    );
  }
  // An action that can stream can also upload its stream with presigned URLs (the s3 mode).
  const mode = claims.output.mode === "s3" ? "stream" : claims.output.mode;
  if (!action.outputs.includes(mode)) {
    throw new AgentError(
      "KH_BAD_PARAMS",
      `${action.name} answers with output mode ${action.outputs.join(" or ")}, not ${claims.output.mode}`,
    );
  }

  return { kid, claims, action, params: params.data };
}
