/**
 * The audit record and its hash chain. Each record's hash is SHA-256 over the canonical JSON of every
 * field except `hash` itself, `prevHash` included, so changing, dropping or reordering any record
 * breaks every hash after it. The first record links to GENESIS_HASH.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";

/** `prevHash` of the first record. */
export const GENESIS_HASH = "0".repeat(64);

/** The events the controller records. A later version may add more; none is ever renamed. */
export const AUDIT_EVENTS = [
  "controller.started",
  "token.issued",
  "token.revoked",
  "request.created",
  "request.refused",
  "request.approved",
  "request.denied",
  "request.expired",
  "request.dispatched",
  "request.completed",
  "request.failed",
  "artifact.stored",
  "artifact.downloaded",
  "artifact.deleted",
  // fleet (docs/fleet.md)
  "enroll-token.issued",
  "enroll-token.revoked",
  "agent.enrolled",
  "agent.refused",
  "agent.rotation-allowed",
  "collection.created",
  "collection.refused",
  "collection.approved",
  "collection.denied",
  "collection.expired",
  "collection.started",
  "collection.finished",
  "trigger.received",
  "trigger.fired",
  "trigger.suppressed",
  "trigger.refused",
  "policy.loaded",
  "policy.rejected",
  "breakglass.used",
  "review.closed",
  "review.overdue",
  // the web console (docs/console.md)
  "console.signed-in",
  "console.signed-out",
  "audit.exported",
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** What a caller supplies; the store adds seq, time and the chain. */
export interface AuditEntry {
  /** Who did it: a subject, `controller:<id>` or `local:<os user>`. */
  readonly actor: string;
  readonly event: AuditEvent;
  readonly requestId?: string;
  /** Facts about the event. Never a secret, a token or a result body. */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly reason?: string;
  readonly ticket?: string;
}

/** One stored record, exactly as it is hashed (plus its hash). */
export interface AuditRecord {
  readonly seq: number;
  /** ISO 8601, UTC, milliseconds. */
  readonly time: string;
  readonly actor: string;
  readonly event: AuditEvent;
  readonly requestId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly reason: string | null;
  readonly ticket: string | null;
  readonly prevHash: string;
  readonly hash: string;
}

/** The hash a record must carry, computed from all its other fields. */
export function auditRecordHash(record: Omit<AuditRecord, "hash">): string {
  return createHash("sha256").update(auditRecordCanonical(record)).digest("hex");
}

/**
 * The canonical JSON of a record's hashed fields: exactly `canonicalJson` of them, written out in
 * their sorted order directly (the keys are fixed), which makes verifying a long chain about twice
 * as fast. A test checks the two agree.
 */
export function auditRecordCanonical(record: Omit<AuditRecord, "hash">): string {
  const s = JSON.stringify;
  if (!Number.isFinite(record.seq)) throw new TypeError("canonical JSON cannot hold a non-finite number");
  return `{"actor":${s(record.actor)},"details":${canonicalJson(record.details)},"event":${s(record.event)},"prevHash":${s(record.prevHash)},"reason":${s(record.reason)},"requestId":${s(record.requestId)},"seq":${s(record.seq)},"ticket":${s(record.ticket)},"time":${s(record.time)}}`;
}

/** Builds the next record of the chain. */
export function chainRecord(entry: AuditEntry, seq: number, at: number, prevHash: string): AuditRecord {
  const unhashed = {
    seq,
    time: new Date(at).toISOString(),
    actor: entry.actor,
    event: entry.event,
    requestId: entry.requestId ?? null,
    details: entry.details ?? {},
    reason: entry.reason ?? null,
    ticket: entry.ticket ?? null,
    prevHash,
  };
  return { ...unhashed, hash: auditRecordHash(unhashed) };
}

/**
 * The first record whose hash or link is wrong, or undefined when the chain holds. `previous` is the
 * hash the first given record should link to (GENESIS_HASH for a full chain).
 */
export function findBrokenLink(
  records: Iterable<AuditRecord>,
  previous = GENESIS_HASH,
): AuditRecord | undefined {
  let prev = previous;
  for (const record of records) {
    const { hash, ...rest } = record;
    if (record.prevHash !== prev || auditRecordHash(rest) !== hash) return record;
    prev = hash;
  }
  return undefined;
}
