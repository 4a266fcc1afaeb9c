/**
 * Database rows to records, shared by the SQLite and PostgreSQL stores: both name their columns
 * alike, store JSON as text, and answer numbers (SQLite) or BIGINT strings (PostgreSQL), which
 * `num` reads either way.
 */
import type { AuditRecord } from "../audit/chain.js";
import type {
  ApprovalRecord,
  ArtifactRecord,
  NewRequest,
  OutputMode,
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

/** How each store binds parameters: SQLite's `?` and 0/1, PostgreSQL's `$i` and booleans. */
export interface ParamDialect {
  readonly placeholder: (i: number) => string;
  readonly bool: (b: boolean) => unknown;
}
export const SQLITE_PARAMS: ParamDialect = { placeholder: () => "?", bool: (b) => (b ? 1 : 0) };
export const PG_PARAMS: ParamDialect = { placeholder: (i) => `$${i}`, bool: (b) => b };

/** The columns a new request row is written with, in the order of the values in `requestInsert`. */
const REQUEST_INSERT_COLUMNS = [
  "id",
  "status",
  "subject",
  "action",
  "target",
  "environment",
  "params",
  "reason",
  "ticket",
  "approvals_required",
  "created_at",
  "updated_at",
  "expires_at",
  "output_mode",
  "break_glass",
  "jti",
  "kid",
  "error_code",
  "error_message",
] as const;

/**
 * The INSERT of a new request row for either store: `placeholder(i)` is the dialect's i-th parameter
 * (`?` or `$i`), and `bool` how it binds a boolean (SQLite has no boolean type). `set` carries the
 * fields a collection's target request is created with (already dispatched, or already failed).
 */
export function requestInsert(
  request: NewRequest,
  set: TransitionFields | undefined,
  dialect: ParamDialect,
): { sql: string; values: unknown[] } {
  const values = [
    request.id,
    request.status,
    request.subject,
    request.action,
    request.target,
    request.environment,
    JSON.stringify(request.params),
    request.reason,
    request.ticket ?? null,
    request.approvalsRequired,
    request.createdAt,
    request.createdAt,
    request.expiresAt,
    request.output ?? "inline",
    dialect.bool(request.breakGlass === true),
    set?.jti ?? null,
    set?.kid ?? null,
    set?.error?.code ?? null,
    set?.error?.message ?? null,
  ];
  const placeholders = values.map((_, i) => dialect.placeholder(i + 1)).join(", ");
  return {
    sql: `INSERT INTO requests (${REQUEST_INSERT_COLUMNS.join(", ")}) VALUES (${placeholders})`,
    values,
  };
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
    result: row.result === null ? undefined : (JSON.parse(String(row.result)) as unknown),
    error: errorCode ? { code: errorCode, message: str(row.error_message) ?? "" } : undefined,
    denial: deniedBy ? { by: deniedBy, reason: str(row.denial_reason) ?? "" } : undefined,
    artifactId: str(row.artifact_id),
    // PostgreSQL answers a boolean, SQLite 0 or 1.
    breakGlass: row.break_glass === true || Number(row.break_glass) === 1,
  };
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
