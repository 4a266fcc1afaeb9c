/**
 * Fleet records to query parameters and rows to records, shared by the SQLite and PostgreSQL fleet
 * stores (same columns, JSON as text).
 */
import type {
  CollectionRecord,
  CollectionStatus,
  EnrolledAgentRecord,
  EnrollTokenRecord,
  KeyRotation,
  NewCollection,
} from "./fleet-types.js";
import type { insertCollection } from "./queries.js";
import { type Row, str, toRequester } from "./rows.js";
import type { ParamsOf } from "./sql.js";
import type { ApprovalRecord } from "./types.js";

/** The parameters of a new collection row (queries.ts `insertCollection`). */
export function collectionRow(collection: NewCollection): ParamsOf<typeof insertCollection> {
  return {
    id: collection.id,
    status: collection.status,
    subject: collection.subject,
    action: collection.action,
    selector: collection.selector,
    environment: collection.environment,
    params: JSON.stringify(collection.params),
    reason: collection.reason,
    ticket: collection.ticket ?? null,
    output: collection.output,
    targets: JSON.stringify(collection.targets),
    targetsDigest: collection.targetsDigest,
    maxConcurrency: collection.maxConcurrency,
    maxErrors: collection.maxErrors ? JSON.stringify(collection.maxErrors) : null,
    errorBudget: collection.errorBudget,
    approvalsRequired: collection.approvalsRequired,
    createdAt: collection.createdAt,
    expiresAt: collection.expiresAt,
    trigger: collection.trigger ? JSON.stringify(collection.trigger) : null,
    requester: collection.requester ? JSON.stringify(collection.requester) : null,
  };
}

export const json = <T>(v: unknown): T | undefined =>
  v === null || v === undefined ? undefined : (JSON.parse(String(v)) as T);

export function toCollection(row: Row, approvals: ApprovalRecord[]): CollectionRecord {
  const deniedBy = str(row.denied_by);
  return {
    id: String(row.id),
    status: row.status as CollectionStatus,
    subject: String(row.subject),
    action: String(row.action),
    selector: String(row.selector),
    environment: String(row.environment),
    params: JSON.parse(String(row.params)) as Record<string, unknown>,
    reason: String(row.reason),
    ticket: str(row.ticket),
    output: row.output_mode as CollectionRecord["output"],
    targets: JSON.parse(String(row.targets)) as CollectionRecord["targets"],
    targetsDigest: String(row.targets_digest),
    maxConcurrency: Number(row.max_concurrency),
    maxErrors: json(row.max_errors),
    errorBudget: Number(row.error_budget),
    approvalsRequired: Number(row.approvals_required),
    approvals,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    expiresAt: Number(row.expires_at),
    trigger: json(row.trigger),
    summary: json(row.summary),
    denial: deniedBy ? { by: deniedBy, reason: str(row.denial_reason) ?? "" } : undefined,
    requester: toRequester(row.requester),
  };
}

export function toEnrollToken(row: Row): EnrollTokenRecord {
  return {
    id: String(row.id),
    environment: String(row.environment),
    secretHash: String(row.secret_hash),
    createdBy: String(row.created_by),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    revokedAt: row.revoked_at === null ? undefined : Number(row.revoked_at),
  };
}

export function toEnrolledAgent(row: Row): EnrolledAgentRecord {
  return {
    id: String(row.id),
    environment: String(row.environment),
    url: String(row.url),
    labels: JSON.parse(String(row.labels)) as Record<string, string>,
    actions: JSON.parse(String(row.actions)) as string[],
    enrollTokenId: String(row.enroll_token_id),
    sessionHash: String(row.session_hash),
    enrolledAt: Number(row.enrolled_at),
    lastSeenAt: Number(row.last_seen_at),
    publicKey: row.public_key === null || row.public_key === undefined ? undefined : String(row.public_key),
    keyRotation:
      row.key_rotation === null || row.key_rotation === undefined
        ? undefined
        : (JSON.parse(String(row.key_rotation)) as KeyRotation),
  };
}
