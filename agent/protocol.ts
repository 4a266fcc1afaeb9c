/**
 * The wire contract between controller and agent (SPEC section 2).
 *
 * The agent owns it because the agent is the party that decides what it accepts; the controller
 * imports this file rather than keeping a copy. Nothing here knows about actions or HTTP.
 */
import { z } from "zod";

/** `typ` of every request envelope. */
export const REQUEST_TYP = "keyhole-request+jwt";
/** The only accepted JWS algorithm: Ed25519. */
export const REQUEST_ALG = "EdDSA";
/** Media type of the request body. */
export const REQUEST_CONTENT_TYPE = "application/jwt";
/** The agent path that accepts envelopes. */
export const REQUESTS_PATH = "/v1/requests";
/** Clock skew tolerated on `iat` (SPEC: refused if `iat > now + 30`). */
export const MAX_CLOCK_SKEW_SECONDS = 30;
/** The agent's default maximum `exp - iat`. */
export const DEFAULT_MAX_TTL_SECONDS = 300;
/** Shortest accepted `jti`. */
export const MIN_JTI_LENGTH = 16;
/** Longest accepted `reason`. */
export const MAX_REASON_LENGTH = 500;

export const protectedHeaderSchema = z.object({
  alg: z.literal(REQUEST_ALG),
  typ: z.literal(REQUEST_TYP),
  kid: z.string().min(1).max(200),
});
export type ProtectedHeader = z.infer<typeof protectedHeaderSchema>;

/** Who asked: `user:<email>` or `svc:<name>`. */
export const subjectSchema = z
  .string()
  .max(320)
  .regex(
    /^(user:[^\s@]+@[^\s@]+|svc:[A-Za-z0-9][A-Za-z0-9._-]{0,127})$/,
    "must be user:<email> or svc:<name>",
  );

export const outputSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("inline") }),
  z.strictObject({ mode: z.literal("stream") }),
]);
export type Output = z.infer<typeof outputSchema>;

const seconds = z
  .number()
  .int()
  .nonnegative()
  .max(2 ** 40);

/**
 * The claims of a request envelope. Strict: an unknown claim is refused, so a controller and an
 * agent can never silently disagree about what a request means.
 */
export const claimsSchema = z.strictObject({
  iss: z.string().min(1).max(200),
  sub: subjectSchema,
  aud: z.string().min(1).max(253),
  env: z.string().min(1).max(63),
  iat: seconds,
  exp: seconds,
  jti: z.string().min(MIN_JTI_LENGTH).max(128),
  action: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()),
  reason: z.string().trim().min(1).max(MAX_REASON_LENGTH),
  ticket: z.string().min(1).max(200).optional(),
  approvals: z.array(subjectSchema).max(20),
  breakGlass: z.boolean().optional(),
  output: outputSchema,
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional(),
});
export type RequestClaims = z.infer<typeof claimsSchema>;

/** The body of every refusal, from either service. */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string().regex(/^KH_[A-Z_]+$/), message: z.string() }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The agent's answer to an accepted inline request. */
export const inlineResultSchema = z.object({
  requestId: z.string(),
  agent: z.string(),
  action: z.string(),
  startedAt: z.string(),
  durationMs: z.number(),
  result: z.unknown(),
});
export type InlineResult = z.infer<typeof inlineResultSchema>;
