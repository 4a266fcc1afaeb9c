/**
 * The wire contract between controller and agent (SPEC section 2).
 *
 * It belongs to neither program: the agent (which decides what it accepts) and the controller (which
 * signs what it asks) both import it, and neither imports the other. Action params are in
 * actions.ts; nothing here knows about HTTP servers.
 */
import * as z from "zod";

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

/** A SigV4 signature: 64 lowercase hex digits. */
const sigV4SignatureSchema = z.string().regex(/^[0-9a-f]{64}$/, "must be a SigV4 signature");
const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 digest in hex");

/**
 * `{"mode":"s3"}`: the agent uploads the result itself, one multipart upload of exactly one object,
 * with presigned `UploadPart` URLs; it never holds cloud credentials.
 *
 * The URLs are sent compactly: every part's URL is `url` + `&partNumber=<n>&X-Amz-Signature=<sig>`.
 * They differ only in those two parameters, and a full URL per part (more than a kilobyte each with
 * a session token) would not fit the agent's 64 KiB envelope limit for a large artifact.
 */
export const s3OutputSchema = z
  .strictObject({
    mode: z.literal("s3"),
    /** The presigned UploadPart URL without its `partNumber` and `X-Amz-Signature` parameters. */
    url: z
      .string()
      .max(8192)
      .regex(/^https?:\/\/[^\s?#]+\?[^\s#]+$/, "must be an http(s) URL with a query")
      .refine(
        (u) => !/[?&](partNumber|X-Amz-Signature)=/.test(u),
        "must not carry partNumber or X-Amz-Signature",
      ),
    /**
     * Every part but the last holds exactly this many bytes. With `tail`, each URL in `parts` signs
     * `content-length: partSize`, so the store refuses a part of any other length.
     */
    partSize: z
      .number()
      .int()
      .min(1)
      .max(5 * 1024 ** 3),
    /** The parts the agent may upload, numbered 1, 2, … in order; their count bounds the object's size. */
    parts: z
      .array(
        z.strictObject({ partNumber: z.number().int().min(1).max(10_000), signature: sigV4SignatureSchema }),
      )
      .min(1)
      .max(10_000)
      .refine(
        (parts) => parts.every((p, i) => p.partNumber === i + 1),
        "parts must be numbered 1, 2, … in order",
      ),
    /**
     * The last, shorter part (or the only, empty one): its length is not known when the request is
     * signed, so it has its own complete presigned URL without a signed length, numbered after every
     * part in `parts` (the controller checks its size before it records anything).
     */
    tail: z
      .strictObject({
        partNumber: z.number().int().min(2).max(10_000),
        url: z
          .string()
          .max(8192)
          .regex(/^https?:\/\/[^\s?#]+\?[^\s#]+$/, "must be an http(s) URL with a query"),
      })
      .optional(),
  })
  .refine(
    (output) => output.tail === undefined || output.tail.partNumber === output.parts.length + 1,
    "the tail must be numbered right after the last part",
  );
export type S3Output = z.infer<typeof s3OutputSchema>;

export const outputSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("inline") }),
  z.strictObject({ mode: z.literal("stream") }),
  s3OutputSchema,
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
  // Printable ASCII only: a jti is logged, written to the replay log and shown to people (issue
  // 16, attacker's pass: a jti with a NUL in it was accepted). The controller's are base64url.
  jti: z
    .string()
    .min(MIN_JTI_LENGTH)
    .max(128)
    .regex(/^[\x21-\x7e]+$/, "a jti is printable ASCII without spaces"),
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

/**
 * How many values the agent masked while answering, per masking rule id (never the values): the
 * controller puts it in the audit record of the request's completion.
 */
export const maskCountsSchema = z
  .record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/), z.number().int().nonnegative())
  .refine((counts) => Object.keys(counts).length <= 256, "at most 256 rules");
export type WireMaskCounts = z.infer<typeof maskCountsSchema>;

/** HTTP trailer of a streamed answer: the mask counts as JSON, sent with the digest trailer. */
export const MASKED_TRAILER = "x-keyhole-masked";

/**
 * Headers of every answer the agent gives on `POST /v1/requests`: the envelope's `jti` and the
 * agent's id. The controller keeps an answer only when it names both (the body's `requestId` and
 * `agent` for a JSON answer, these headers for a stream; a refusal must echo the jti), so a service
 * that is not the agent cannot have its answer stored as a result (issue 23, finding 4). On a refusal the agent
 * echoes the `jti` the envelope carries and names itself only when the envelope's `aud` did: it tells
 * a caller nothing the caller did not send.
 */
export const REQUEST_ID_HEADER = "x-keyhole-request-id";
export const AGENT_HEADER = "x-keyhole-agent";

/** What an answer must name to be the answer to one envelope. */
export interface AnswerOf {
  readonly jti: string;
  readonly agent: string;
}

/** The agent's answer to an accepted inline request. */
export const inlineResultSchema = z.object({
  requestId: z.string(),
  agent: z.string(),
  action: z.string(),
  startedAt: z.string(),
  durationMs: z.number(),
  result: z.unknown(),
  masked: maskCountsSchema.optional(),
});
export type InlineResult = z.infer<typeof inlineResultSchema>;

/** The agent's answer to an accepted `s3` request: what it uploaded, for the controller to complete and check. */
export const s3UploadResultSchema = z.object({
  requestId: z.string(),
  agent: z.string(),
  action: z.string(),
  filename: z.string().max(255).optional(),
  contentType: z.string().max(255).optional(),
  upload: z.object({
    parts: z
      .array(z.object({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) }))
      .min(1)
      .max(10_000),
    bytes: z.number().int().nonnegative(),
    sha256: sha256HexSchema,
  }),
  masked: maskCountsSchema.optional(),
});
export type S3UploadResult = z.infer<typeof s3UploadResultSchema>;

/** HTTP trailer of a streamed answer: the SHA-256 (hex) of the bytes sent; absent means the stream broke. */
export const SHA256_TRAILER = "x-keyhole-sha256";

/**
 * What a request needs a policy to grant, beyond nothing: its action's name, each action inside a
 * `bundle`, and `<action>:unredacted` for a heap snapshot asked for with `redact: false` (raw memory:
 * a policy must name this privilege explicitly, `"*"` never covers it). The agent decides what it
 * runs; this is the part of the contract the controller's policy reads.
 */
export const UNREDACTED_SUFFIX = ":unredacted";

export function privilegesOf(action: string, params: unknown): string[] {
  const record = typeof params === "object" && params !== null ? (params as Record<string, unknown>) : {};
  if (action === "bundle" && Array.isArray(record.actions)) {
    const inner = record.actions.flatMap((entry: unknown) => {
      const e = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>) : {};
      return typeof e.action === "string" ? privilegesOf(e.action, e.params) : [];
    });
    return [...new Set([action, ...inner])];
  }
  if (action === "heap-snapshot" && record.redact === false) return [action, `${action}${UNREDACTED_SUFFIX}`];
  return [action];
}
