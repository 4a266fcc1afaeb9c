/**
 * The one place the controller checks an agent's signature on its answer (protocol/answer.ts, issue
 * 21), before anything of the answer is stored. Every transport's answer goes through here: a JSON
 * answer or a refusal as a SendOutcome (`verifyAnswer`), a streamed artifact through the check
 * `streamCheck` gives `receiveStream` before it commits the write.
 *
 * The key is the one pinned for the agent: at enrollment, or `publicKey` in the inventory file. An
 * inventory agent without `publicKey` has no pinned key; its answers are checked against the key they
 * name themselves, which proves them whole and bound to the jti but not who made them (docs/fleet.md:
 * pin static agents' keys). Anything that does not verify becomes `KH_AGENT_UNVERIFIED`, and the
 * request records that instead of the answer.
 */
import {
  type AnswerKind,
  type AnswerStatement,
  checkAnswerSignature,
  decodeAnswerSignature,
  jsonContentDigest,
} from "../../protocol/answer.js";
import { type AnswerOf, type ErrorBody, s3UploadResultSchema } from "../../protocol/request.js";
import type { SendOutcome } from "./send-envelope.js";

/** Who must have signed, and for which request. */
export interface ExpectedSigner extends AnswerOf {
  readonly action: string;
  /** The agent's pinned public key (base64url); undefined for an inventory agent without one. */
  readonly publicKey: string | undefined;
}

/** A verified answer's signature, as the records keep it. */
export interface KeptSignature {
  /** The compact JWS. */
  readonly signature: string;
  /** The key it verified with (base64url). */
  readonly publicKey: string;
  /** Whether that key was pinned (enrolled, or the inventory's), or only named by the answer. */
  readonly pinned: boolean;
}

export type VerifiedOutcome =
  | {
      readonly ok: true;
      readonly status: number;
      readonly result: unknown;
      /** Undefined only for an s3 answer that is no upload report, which finishDirectUpload refuses. */
      readonly signed: KeptSignature | undefined;
    }
  | Extract<SendOutcome, { ok: false }>;

type Failure = { ok: false; status?: number; code: "KH_AGENT_UNVERIFIED"; message: string };

function unverified(expect: ExpectedSigner, what: string, why: string, status?: number): Failure {
  return {
    ok: false,
    ...(status ? { status } : {}),
    code: "KH_AGENT_UNVERIFIED",
    message: `${what} is not signed by agent "${expect.agent}"${expect.publicKey ? "" : " (no pinned key: checked against the key it names)"}: ${why}; nothing of it was kept`,
  };
}

/** Checks `signature` for `kind` content with digest `sha256`; the kept signature or why not. */
function check(
  signature: unknown,
  expect: ExpectedSigner,
  kind: AnswerKind,
  sha256: string,
  bytes?: number,
): { signed: KeptSignature; statement: AnswerStatement } | string {
  const decoded = decodeAnswerSignature(signature);
  if (typeof decoded === "string") return decoded;
  const publicKey = expect.publicKey ?? decoded.jwk.x;
  const checked = checkAnswerSignature(
    signature,
    publicKey,
    {
      jti: expect.jti,
      agent: expect.agent,
      kind,
      sha256,
      action: kind === "error" ? undefined : expect.action,
      bytes,
    },
    decoded,
  );
  if (typeof checked === "string") return checked;
  return {
    signed: { signature: signature as string, publicKey, pinned: expect.publicKey !== undefined },
    statement: checked.statement,
  };
}

/**
 * Verifies an inline (`kind` "inline") or upload-report ("s3") answer, or the agent's refusal, and
 * gives the answer without its `signature` member. Transport failures (no answer from the agent)
 * pass through unchanged.
 */
export function verifyAnswer(
  outcome: SendOutcome,
  expect: ExpectedSigner,
  kind: "inline" | "s3",
): VerifiedOutcome {
  if (!outcome.ok) return verifyRefusal(outcome, expect);
  const { signature, ...content } = outcome.result as { signature?: unknown } & Record<string, unknown>;
  let checked: ReturnType<typeof check>;
  if (kind === "inline") {
    checked = check(signature, expect, "inline", jsonContentDigest(content));
  } else {
    // The report's digest and size are what the signature covers; finishDirectUpload then checks the
    // object S3 holds against exactly these, so the stored bytes are the ones the agent signed.
    const report = s3UploadResultSchema.safeParse(content);
    // Not a report at all: finishDirectUpload refuses it with its own code.
    if (!report.success) return { ok: true, status: outcome.status, result: content, signed: undefined };
    checked = check(signature, expect, "s3", report.data.upload.sha256, report.data.upload.bytes);
    if (typeof checked !== "string" && !sameCounts(checked.statement.masked, report.data.masked))
      checked = "the report's mask counts are not the signed ones";
  }
  if (typeof checked === "string")
    return unverified(
      expect,
      `the agent's ${kind === "inline" ? "answer" : "upload report"}`,
      checked,
      outcome.status,
    );
  return { ok: true, status: outcome.status, result: content, signed: checked.signed };
}

type Refused = Extract<SendOutcome, { ok: false }>;

/**
 * A failed dispatch as recorded: the agent's refusal when it is signed by the agent, else
 * KH_AGENT_UNVERIFIED; a failure that is no answer of the agent's (timeout, unreachable) unchanged.
 */
export function verifyRefusal(outcome: Refused, expect: ExpectedSigner): Refused {
  if (!outcome.refusal) return outcome;
  const checked = check(outcome.signature, expect, "error", jsonContentDigest(outcome.refusal));
  if (typeof checked === "string")
    return unverified(expect, `the agent's refusal (${outcome.code})`, checked, outcome.status);
  const { signature: _s, refusal: _r, ...rest } = outcome;
  return rest;
}

/**
 * The check `receiveStream` runs once the streamed bytes are in and their digest matched the agent's
 * trailer, before the artifact is committed: undefined when the signature trailer verifies.
 */
export function streamCheck(
  expect: ExpectedSigner,
): (answer: {
  sha256: string;
  bytes: number;
  masked: unknown;
  signature: string | undefined;
}) => { signed: KeptSignature } | Failure {
  return (answer) => {
    const checked = check(answer.signature, expect, "stream", answer.sha256, answer.bytes);
    if (typeof checked === "string") return unverified(expect, "the agent's stream", checked);
    if (!sameCounts(checked.statement.masked, answer.masked))
      return unverified(expect, "the agent's stream", "its mask counts are not the signed ones");
    return { signed: checked.signed };
  };
}

function sameCounts(signed: unknown, sent: unknown): boolean {
  return jsonContentDigest(signed ?? {}) === jsonContentDigest(sent ?? {});
}

/** A refusal's body as the agent signed it: `{"error":{code,message}}`. */
export function refusalBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}
