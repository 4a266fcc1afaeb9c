/**
 * Signed answers (SPEC §8, issue 21): every answer an agent gives to an envelope carries its
 * signature, by its own Ed25519 key, over the envelope's `jti` and the SHA-256 of the content, so the
 * controller can tell the agent's answer from one a man in the middle (or an enrollment-token holder
 * relaying envelopes) made up, and anyone holding the agent's public key can check a stored result
 * later, offline.
 *
 * The signature is a compact JWS (RFC 7515), `typ` `keyhole-answer+jwt`, `alg` `EdDSA`, whose
 * payload is the statement below; its header carries the signer's public key (`jwk`) only as a hint:
 * a verifier checks it against the key it pinned for the agent, never trusts it alone. What the
 * content digest covers, per kind:
 * - `inline`: the canonical JSON (canonical-json.ts) of the JSON answer without its `signature` member;
 * - `stream`, `s3`: the artifact's bytes (with their count and the mask counts in the statement);
 * - `error`: the canonical JSON of the refusal body `{"error":{code,message}}`.
 *
 * Both programs import this file; the agent signs (agent/answer-signer.ts), the controller verifies
 * (controller/dispatch/verify-answer.ts). Nothing here holds a key.
 */
import { createHash, createPublicKey, type KeyObject, verify as verifySignature } from "node:crypto";
import * as z from "zod";
import { canonicalJson } from "./canonical-json.js";
import { maskCountsSchema } from "./request.js";

/** `typ` of every answer signature. */
export const ANSWER_TYP = "keyhole-answer+jwt";
/**
 * Where the signature travels on HTTP when the answer is not a JSON object that can hold it: the
 * trailer of a streamed answer, the header of a refusal. JSON answers (inline, s3) carry it as their
 * `signature` member.
 */
export const SIGNATURE_HEADER = "x-keyhole-signature";

export const ANSWER_KINDS = ["inline", "stream", "s3", "error"] as const;
export type AnswerKind = (typeof ANSWER_KINDS)[number];

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 digest in hex");

/** An Ed25519 public key as a JWK (RFC 8037): what an agent pins and shows. */
export const publicJwkSchema = z.strictObject({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be 32 bytes in base64url"),
});
export type PublicJwk = z.infer<typeof publicJwkSchema>;

/**
 * An agent's public key as configuration and the wire write it: the base64url of its 32 raw bytes
 * (the JWK's `x`), e.g. `publicKey: 3q2-7w…` in the inventory.
 */
export const publicKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be an Ed25519 public key: 32 bytes in base64url (43 characters)");

const answerHeaderSchema = z.strictObject({
  alg: z.literal("EdDSA"),
  typ: z.literal(ANSWER_TYP),
  jwk: publicJwkSchema,
});

/** What an agent signs about one answer. */
export const answerStatementSchema = z.strictObject({
  /** The envelope's `jti`: the answer is to this request and no other. */
  jti: z.string().min(1).max(128),
  /** The agent's id. */
  agent: z.string().min(1).max(253),
  kind: z.enum(ANSWER_KINDS),
  /** The envelope's action (absent on a refusal of an envelope the agent could not read). */
  action: z.string().min(1).max(64).optional(),
  /** SHA-256 of the content (above). */
  sha256: sha256Hex,
  /** The artifact's size (stream, s3). */
  bytes: z.number().int().nonnegative().optional(),
  /** What the agent masked, per rule (stream, s3; inline and refusals carry it in the content). */
  masked: maskCountsSchema.optional(),
  /** When it was signed, seconds. */
  iat: z.number().int().nonnegative(),
});
export type AnswerStatement = z.infer<typeof answerStatementSchema>;

/** SHA-256 (hex) of the canonical JSON of `value`: the content digest of JSON answers. */
export function jsonContentDigest(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

/** The compact JWS's signing input, `b64(header).b64(payload)`, for a statement signed by `jwk`. */
export function answerSigningInput(statement: AnswerStatement, jwk: PublicJwk): string {
  const header = Buffer.from(JSON.stringify({ alg: "EdDSA", typ: ANSWER_TYP, jwk })).toString("base64url");
  return `${header}.${Buffer.from(JSON.stringify(statement)).toString("base64url")}`;
}

/** Keys already imported: importing a JWK costs about as much as the verification itself. */
const imported = new Map<string, KeyObject>();

/** The Ed25519 public key behind the base64url of its raw 32 bytes. */
export function publicKeyObject(x: string): KeyObject {
  let key = imported.get(x);
  if (!key) {
    key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
    if (imported.size >= 4096) imported.clear(); // bounded: a fleet's keys, not every key ever seen
    imported.set(x, key);
  }
  return key;
}

/** A signature taken apart, its Ed25519 signature not yet checked. */
export interface DecodedAnswerSignature {
  readonly statement: AnswerStatement;
  /** The key the signer says it used (a hint: compare with the pinned one). */
  readonly jwk: PublicJwk;
  readonly signingInput: string;
  readonly signature: Buffer;
}

/** Decodes a compact answer JWS; a string saying why when it is not one. */
export function decodeAnswerSignature(jws: unknown): DecodedAnswerSignature | string {
  if (typeof jws !== "string" || jws.length > 8192) return "no answer signature";
  const parts = jws.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)))
    return "the answer signature is not a compact JWS";
  const [h, p, s] = parts as [string, string, string];
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    payload = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  } catch {
    return "the answer signature's header or payload is not JSON";
  }
  const parsedHeader = answerHeaderSchema.safeParse(header);
  if (!parsedHeader.success) return `the answer signature's header is not ${ANSWER_TYP} with EdDSA and a jwk`;
  const statement = answerStatementSchema.safeParse(payload);
  if (!statement.success) return "the answer signature's statement does not match the protocol";
  const signature = Buffer.from(s, "base64url");
  if (signature.length !== 64) return "the answer signature is not an Ed25519 signature";
  return { statement: statement.data, jwk: parsedHeader.data.jwk, signingInput: `${h}.${p}`, signature };
}

/** What a verifier knows the answer must say, from its own side. */
export interface ExpectedAnswer {
  readonly jti: string;
  readonly agent: string;
  readonly kind: AnswerKind;
  /** The digest the verifier computed itself over what it received. */
  readonly sha256: string;
  readonly action?: string | undefined;
  readonly bytes?: number | undefined;
}

/**
 * Checks `jws` against the agent's public key (base64url `x`) and what the answer must say; the
 * statement when it holds, else a string saying what failed. Pure: the one check both the controller
 * (before it stores anything) and `keyhole artifacts verify` (offline) run.
 */
export function checkAnswerSignature(
  jws: unknown,
  publicKey: string | KeyObject,
  expected: ExpectedAnswer,
  /** `jws` already taken apart by decodeAnswerSignature, to decode it once. */
  decodedAlready?: DecodedAnswerSignature,
): { readonly statement: AnswerStatement } | string {
  const decoded = decodedAlready ?? decodeAnswerSignature(jws);
  if (typeof decoded === "string") return decoded;
  let key: KeyObject;
  try {
    key = typeof publicKey === "string" ? publicKeyObject(publicKey) : publicKey;
  } catch {
    return "the agent's public key is not an Ed25519 key";
  }
  if (!verifySignature(null, Buffer.from(decoded.signingInput), key, decoded.signature))
    return "the answer signature does not verify with the agent's public key";
  const { statement } = decoded;
  if (statement.jti !== expected.jti)
    return `the answer is signed for jti ${statement.jti}, not ${expected.jti}`;
  if (statement.agent !== expected.agent)
    return `the answer is signed by agent "${statement.agent}", not "${expected.agent}"`;
  if (statement.kind !== expected.kind)
    return `the answer is signed as ${statement.kind}, but it is ${expected.kind === "error" ? "a refusal" : `an ${expected.kind} answer`}`;
  if (expected.action !== undefined && statement.action !== undefined && statement.action !== expected.action)
    return `the answer is signed for action ${statement.action}, not ${expected.action}`;
  if (statement.sha256 !== expected.sha256)
    return `the content's sha256 ${expected.sha256} is not the signed ${statement.sha256}`;
  if (expected.bytes !== undefined && statement.bytes !== expected.bytes)
    return `the content's ${expected.bytes} bytes are not the signed ${statement.bytes ?? "(none)"}`;
  return { statement };
}
