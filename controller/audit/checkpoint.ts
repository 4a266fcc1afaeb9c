/**
 * Signed checkpoints of the audit chain. A checkpoint says "the record at `seq` has hash `hash`",
 * signed with the controller's audit key (Ed25519). Because each record's hash covers its
 * predecessor's, one checkpoint vouches for the whole chain up to `seq`: a verifier holding only the
 * public key can tell that nothing up to there was changed, dropped, inserted or reordered, even by
 * someone who could rewrite the database and recompute every hash, and that a chain ending before
 * `seq` was truncated.
 */
import { type KeyObject, sign, verify } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";

/** The signed statement's type; a later format gets a new one. */
export const CHECKPOINT_TYP = "keyhole-audit-checkpoint/1";

export interface AuditCheckpoint {
  /** The last record covered. */
  readonly seq: number;
  /** That record's hash. */
  readonly hash: string;
  /** When the checkpoint was signed, ISO 8601 UTC. */
  readonly time: string;
  /** The audit key that signed it. */
  readonly kid: string;
  /** Ed25519 over the canonical JSON of {typ, seq, hash, time, kid}, base64url. */
  readonly signature: string;
}

function signedBytes(cp: Omit<AuditCheckpoint, "signature">): Buffer {
  return Buffer.from(
    canonicalJson({ typ: CHECKPOINT_TYP, seq: cp.seq, hash: cp.hash, time: cp.time, kid: cp.kid }),
  );
}

/** Signs a checkpoint over the record `seq` with hash `hash`. */
export function signCheckpoint(
  key: { kid: string; privateKey: KeyObject },
  head: { seq: number; hash: string },
  at: number,
): AuditCheckpoint {
  const unsigned = { seq: head.seq, hash: head.hash, time: new Date(at).toISOString(), kid: key.kid };
  return { ...unsigned, signature: sign(null, signedBytes(unsigned), key.privateKey).toString("base64url") };
}

/** Why a checkpoint's signature does not hold, or undefined when it does. */
export function checkpointProblem(
  cp: AuditCheckpoint,
  keys: ReadonlyMap<string, KeyObject>,
): string | undefined {
  const key = keys.get(cp.kid);
  if (!key) return `it is signed by key "${cp.kid}", which is not a pinned audit key`;
  let ok = false;
  try {
    ok = verify(null, signedBytes(cp), key, Buffer.from(cp.signature, "base64url"));
  } catch {
    ok = false;
  }
  return ok ? undefined : "its signature does not verify";
}

/** A checkpoint parsed from untrusted JSON, or undefined when it lacks a field. */
export function parseCheckpoint(value: unknown): AuditCheckpoint | undefined {
  const v = value as Record<string, unknown> | null;
  if (
    !v ||
    typeof v.seq !== "number" ||
    !Number.isSafeInteger(v.seq) ||
    typeof v.hash !== "string" ||
    typeof v.time !== "string" ||
    typeof v.kid !== "string" ||
    typeof v.signature !== "string"
  )
    return undefined;
  return { seq: v.seq, hash: v.hash, time: v.time, kid: v.kid, signature: v.signature };
}
