/**
 * Records to query parameters and database rows to records, shared by the SQLite and PostgreSQL
 * stores: both name their columns alike, store JSON as text, and answer numbers (SQLite) or BIGINT
 * strings (PostgreSQL), which `num` reads either way.
 */
import type { AuditRecord } from "../audit/chain.js";
import type { AuditCheckpoint } from "../audit/checkpoint.js";
import type { RequestRow, TransitionRow } from "./queries.js";
import type {
  ApprovalRecord,
  ArtifactRecord,
  LinkedAuditRecord,
  NewRequest,
  OutputMode,
  RequesterRecord,
  RequestRecord,
  RequestStatus,
  ReviewRecord,
  TokenRecord,
  TransitionFields,
} from "./types.js";

export type Row = Record<string, unknown>;
export const str = (v: unknown): string | undefined =>
  v === null || v === undefined ? undefined : String(v);
/** BIGINT comes back from PostgreSQL as a string (it may exceed 2^53); our values are epoch ms and counts. */
export const num = (v: unknown): number => Number(v);
export const numOrUndefined = (v: unknown): number | undefined =>
  v === null || v === undefined ? undefined : Number(v);

/**
 * The parameters of a new request row (queries.ts `insertRequest`). `set` carries the fields a
 * collection's target request is created with (already dispatched, or already failed).
 */
export function requestRow(request: NewRequest, set?: TransitionFields): RequestRow {
  return {
    id: request.id,
    status: request.status,
    subject: request.subject,
    action: request.action,
    target: request.target,
    environment: request.environment,
    params: JSON.stringify(request.params),
    reason: request.reason,
    ticket: request.ticket ?? null,
    approvalsRequired: request.approvalsRequired,
    createdAt: request.createdAt,
    expiresAt: request.expiresAt,
    output: request.output ?? "inline",
    breakGlass: request.breakGlass === true,
    jti: set?.jti ?? null,
    kid: set?.kid ?? null,
    errorCode: set?.error?.code ?? null,
    errorMessage: set?.error?.message ?? null,
    requester: request.requester ? JSON.stringify(request.requester) : null,
  };
}

/** The parameters of a request's compare-and-set move (queries.ts `transitionRequest`, `moveRequest`). */
export function transitionRow(change: {
  id: string;
  from: string;
  to: string;
  at: number;
  set?: TransitionFields | undefined;
}): TransitionRow {
  const set = change.set ?? {};
  return {
    id: change.id,
    from: change.from,
    to: change.to,
    at: change.at,
    jti: set.jti ?? null,
    kid: set.kid ?? null,
    result: set.result === undefined ? null : JSON.stringify(set.result),
    answerSignature: set.answerSignature ?? null,
    errorCode: set.error?.code ?? null,
    errorMessage: set.error?.message ?? null,
    deniedBy: set.denial?.by ?? null,
    denialReason: set.denial?.reason ?? null,
  };
}

function toApproval(row: Row): ApprovalRecord {
  return { subject: String(row.subject), at: num(row.at), note: str(row.note) };
}

/** Approvals in their order: by time, then by subject (code unit order, the same in both stores). */
function inOrder(approvals: ApprovalRecord[]): ApprovalRecord[] {
  return approvals.sort(
    (a, b) => a.at - b.at || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0),
  );
}

/** Approval rows (queries.ts `approvalsOf`, `collectionApprovalsOf`) as records, in order. */
export function toApprovals(rows: readonly Row[]): ApprovalRecord[] {
  return inOrder(rows.map(toApproval));
}

/** The approvals read for several requests (queries.ts `approvalsOfMany`), by request id, in order. */
export function approvalsByRequest(requests: readonly Row[], approvals: readonly Row[]) {
  const byId = new Map<string, ApprovalRecord[]>(requests.map((row) => [String(row.id), []]));
  for (const row of approvals) byId.get(String(row.request_id))?.push(toApproval(row));
  for (const list of byId.values()) inOrder(list);
  return byId;
}

export function toRequest(row: Row, approvals: ApprovalRecord[]): RequestRecord {
  const errorCode = str(row.error_code);
  const deniedBy = str(row.denied_by);
  return {
    id: String(row.id),
    status: row.status as RequestStatus,
    subject: String(row.subject),
    action: String(row.action),
    target: String(row.target),
    environment: String(row.environment),
    params: JSON.parse(String(row.params)) as Record<string, unknown>,
    reason: String(row.reason),
    ticket: str(row.ticket),
    output: row.output_mode as OutputMode,
    approvalsRequired: num(row.approvals_required),
    approvals,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    expiresAt: num(row.expires_at),
    jti: str(row.jti),
    kid: str(row.kid),
    result:
      row.result === null || row.result === undefined
        ? undefined
        : (JSON.parse(String(row.result)) as unknown),
    // Only list pages carry has_result (they leave the result itself out).
    ...(row.has_result === undefined ? {} : { hasResult: Number(row.has_result) === 1 }),
    error: errorCode ? { code: errorCode, message: str(row.error_message) ?? "" } : undefined,
    denial: deniedBy ? { by: deniedBy, reason: str(row.denial_reason) ?? "" } : undefined,
    artifactId: str(row.artifact_id),
    ...(row.answer_signature ? { answerSignature: String(row.answer_signature) } : {}),
    // PostgreSQL answers a boolean, SQLite 0 or 1.
    breakGlass: row.break_glass === true || Number(row.break_glass) === 1,
    requester: toRequester(row.requester),
  };
}

/** A stored requester (JSON text) as a record; undefined for rows written before it was recorded. */
export function toRequester(value: unknown): RequesterRecord | undefined {
  return value === null || value === undefined ? undefined : (JSON.parse(String(value)) as RequesterRecord);
}

export function toReview(row: Row): ReviewRecord {
  return {
    id: String(row.id),
    requestId: String(row.request_id),
    subject: String(row.subject),
    action: String(row.action),
    target: String(row.target),
    environment: String(row.environment),
    reason: String(row.reason),
    ticket: String(row.ticket),
    openedAt: num(row.opened_at),
    closedAt: numOrUndefined(row.closed_at),
    closedBy: str(row.closed_by),
    note: str(row.note),
    overdueAt: numOrUndefined(row.overdue_at),
  };
}

export function toToken(row: Row): TokenRecord {
  return {
    id: String(row.id),
    subject: String(row.subject),
    groups: JSON.parse(String(row.groups)) as string[],
    secretHash: String(row.secret_hash),
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
    revokedAt: numOrUndefined(row.revoked_at),
  };
}

/** An artifact's insert parameters: its signature columns are NULL when it has none. */
export function artifactRow(a: ArtifactRecord): Omit<ArtifactRecord, "agentSignature" | "agentKey"> & {
  agentSignature: string | null;
  agentKey: string | null;
} {
  return { ...a, agentSignature: a.agentSignature ?? null, agentKey: a.agentKey ?? null };
}

export function toArtifact(row: Row): ArtifactRecord {
  return {
    id: String(row.id),
    requestId: String(row.request_id),
    subject: String(row.subject),
    environment: String(row.environment),
    agent: String(row.agent),
    action: String(row.action),
    filename: String(row.filename),
    contentType: String(row.content_type),
    size: num(row.size),
    sha256: String(row.sha256),
    digestSource: row.digest_source as ArtifactRecord["digestSource"],
    store: String(row.store),
    location: String(row.location),
    createdAt: num(row.created_at),
    deletedAt: numOrUndefined(row.deleted_at),
    ...(row.agent_signature ? { agentSignature: String(row.agent_signature) } : {}),
    ...(row.agent_key ? { agentKey: String(row.agent_key) } : {}),
  };
}

/** An audit record and the `prevHash` of the record after it (undefined at the chain's head). */
export function toLinkedAudit(row: Row): LinkedAuditRecord {
  return {
    ...toAudit(row),
    nextPrevHash:
      row.next_prev_hash === null || row.next_prev_hash === undefined
        ? undefined
        : String(row.next_prev_hash),
  };
}

export function toAudit(row: Row): AuditRecord {
  return {
    seq: num(row.seq),
    time: String(row.time),
    actor: String(row.actor),
    event: row.event as AuditRecord["event"],
    requestId: row.request_id === null ? null : String(row.request_id),
    details: JSON.parse(String(row.details)) as Record<string, unknown>,
    reason: row.reason === null ? null : String(row.reason),
    ticket: row.ticket === null ? null : String(row.ticket),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

export function toCheckpoint(row: Row): AuditCheckpoint {
  return {
    seq: num(row.seq),
    hash: String(row.hash),
    time: String(row.time),
    kid: String(row.kid),
    signature: String(row.signature),
  };
}

/** The LIKE pattern of a collection's records: its id as the canonical JSON of `details` holds it. */
export function collectionPattern(collectionId: string): string {
  return `%"collectionId":${JSON.stringify(collectionId).replace(/[%_\\]/g, "")}%`;
}

/** A LIKE pattern for audit details naming a credential id (`tokenId` or `enrollTokenId`). */
export function credentialPattern(id: string): string {
  return `%Id":${JSON.stringify(id).replace(/[%_\\]/g, "")}%`;
}
