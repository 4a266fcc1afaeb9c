/**
 * Every query the two stores share, each defined once (sql.ts compiles it for SQLite and for
 * PostgreSQL). Where the dialects must differ, `differ(sqlite, postgres)` says how, in the query.
 * Statements only one store has (SQLite's pragmas, PostgreSQL's locks, migrations bookkeeping and
 * rate-limit counter) stay in that store.
 *
 * Shared conventions: JSON is bound as text, times as epoch milliseconds, booleans as booleans (the
 * SQLite store binds them as 0/1). Optional filters are `(CAST(:x AS TEXT) IS NULL OR …)`: the CAST
 * gives PostgreSQL the parameter's type, and SQLite ignores it.
 */
import { differ, perDialect, sql } from "./sql.js";

/**
 * A row read to be changed in the same transaction. PostgreSQL locks it until COMMIT, so concurrent
 * writers (other replicas) take turns; SQLite's BEGIN IMMEDIATE already holds the one write lock
 * of the whole database, and it has no FOR UPDATE.
 */
const FOR_UPDATE = differ("", " FOR UPDATE");

type Id = { id: string };
type Limit = { limit: number };

// --- tokens
export const insertToken = sql<{
  id: string;
  subject: string;
  groups: string;
  secretHash: string;
  createdAt: number;
  expiresAt: number;
}>`INSERT INTO tokens (id, subject, groups, secret_hash, created_at, expires_at, revoked_at)
   VALUES (:id, :subject, :groups, :secretHash, :createdAt, :expiresAt, NULL)`;
export const tokenById = sql<Id>`SELECT * FROM tokens WHERE id = :id`;
export const revokeToken = sql<Id & { at: number }>`
  UPDATE tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL`;

// --- requests
export interface RequestRow {
  id: string;
  status: string;
  subject: string;
  action: string;
  target: string;
  environment: string;
  params: string;
  reason: string;
  ticket: string | null;
  approvalsRequired: number;
  createdAt: number;
  expiresAt: number;
  output: string;
  breakGlass: boolean;
  jti: string | null;
  kid: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  requester: string | null;
}
export const insertRequest = sql<RequestRow>`
  INSERT INTO requests (id, status, subject, action, target, environment, params, reason, ticket,
    approvals_required, created_at, updated_at, expires_at, output_mode, break_glass, jti, kid,
    error_code, error_message, requester)
  VALUES (:id, :status, :subject, :action, :target, :environment, :params, :reason, :ticket,
    :approvalsRequired, :createdAt, :createdAt, :expiresAt, :output, :breakGlass, :jti, :kid,
    :errorCode, :errorMessage, :requester)`;
export const requestById = sql<Id>`SELECT * FROM requests WHERE id = :id`;
export const requestByIdForUpdate = sql<Id>`SELECT * FROM requests WHERE id = :id${FOR_UPDATE}`;
/**
 * A page of the request list: every column but `result`, which a list never carries (issue 23,
 * finding 6: 25 whole results made a 400 MiB answer); `has_result` says one can be fetched by id.
 */
export const listRequests = sql<{ status: string | null; before: number | null } & Limit>`
  SELECT seq, id, status, subject, action, target, environment, params, reason, ticket,
    approvals_required, created_at, updated_at, expires_at, jti, kid, error_code, error_message,
    denied_by, denial_reason, output_mode, artifact_id, break_glass, requester,
    CASE WHEN result IS NULL THEN 0 ELSE 1 END AS has_result
  FROM requests
  WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)
    AND (CAST(:before AS BIGINT) IS NULL OR seq < :before)
  ORDER BY seq DESC LIMIT :limit`;
export const listExpiredPending = sql<{ now: number } & Limit>`
  SELECT * FROM requests WHERE status = 'pending' AND expires_at <= :now ORDER BY seq LIMIT :limit`;
export const listRequestsByStatus = sql<{ status: string } & Limit>`
  SELECT * FROM requests WHERE status = :status ORDER BY seq LIMIT :limit`;
/** The latest break-glass request of a subject since a time; matches each schema's partial index. */
export const lastBreakGlass = sql<{ subject: string; since: number }>`
  SELECT MAX(created_at) AS last FROM requests
  WHERE subject = :subject AND ${differ("break_glass = 1", "break_glass")} AND created_at >= :since`;

/**
 * The compare-and-set of a request's status, with the fields a transition may set (a collection's
 * batch moves its targets' requests with it too).
 */
export interface TransitionRow {
  id: string;
  from: string;
  to: string;
  at: number;
  jti: string | null;
  kid: string | null;
  result: string | null;
  answerSignature: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  deniedBy: string | null;
  denialReason: string | null;
}
export const transitionRequest = sql<TransitionRow>`
  UPDATE requests SET status = :to, updated_at = :at,
    jti = COALESCE(:jti, jti), kid = COALESCE(:kid, kid), result = COALESCE(:result, result),
    answer_signature = COALESCE(:answerSignature, answer_signature),
    error_code = COALESCE(:errorCode, error_code), error_message = COALESCE(:errorMessage, error_message),
    denied_by = COALESCE(:deniedBy, denied_by), denial_reason = COALESCE(:denialReason, denial_reason)
  WHERE id = :id AND status = :from`;
export const approveRequest = sql<Id & { at: number }>`
  UPDATE requests SET status = 'approved', updated_at = :at WHERE id = :id AND status = 'pending'`;
export const touchRequest = sql<Id & { at: number }>`UPDATE requests SET updated_at = :at WHERE id = :id`;
/** A pending request's approval count, raised to what the policy in force requires (never lowered). */
export const raiseRequestApprovals = sql<Id & { required: number }>`
  UPDATE requests SET approvals_required = :required WHERE id = :id AND approvals_required < :required`;
export const completeWithArtifact = sql<Id & { at: number; result: string; artifactId: string }>`
  UPDATE requests SET status = 'completed', updated_at = :at, result = :result, artifact_id = :artifactId
  WHERE id = :id AND status = 'dispatched'`;

// --- approvals
type Approval = { subject: string; at: number; note: string | null };
/** Once per subject: a second approval by the same subject changes nothing (0 rows). */
export const insertApproval = sql<{ requestId: string } & Approval>`
  INSERT INTO approvals (request_id, subject, at, note) VALUES (:requestId, :subject, :at, :note)
  ON CONFLICT (request_id, subject) DO NOTHING`;
export const countApprovals = sql<{ requestId: string }>`
  SELECT COUNT(*) AS n FROM approvals WHERE request_id = :requestId`;
/**
 * A request's approvals. Unordered: rows.ts `toApprovals` puts them in order (time, then subject), as
 * for every list of approvals. A request has a handful, and SQLite's sorter cost more than the rest
 * of the query (measured: 11–18 µs against 4 µs without ORDER BY, node:sqlite's SQLite 3.54).
 */
export const approvalsOf = sql<{ requestId: string }>`
  SELECT subject, at, note FROM approvals WHERE request_id = :requestId`;
/**
 * The approvals of several requests in one query (unordered, like `approvalsOf`). PostgreSQL binds the ids as an array; SQLite has
 * no arrays and takes them as a JSON array.
 */
export const approvalsOfMany = sql<{ requestIds: string[] | string }>`
  SELECT request_id, subject, at, note FROM approvals
  WHERE ${differ("request_id IN (SELECT value FROM json_each(:requestIds))", "request_id = ANY(:requestIds)")}`;

// --- reviews
export const insertReview = sql<{
  id: string;
  requestId: string;
  subject: string;
  action: string;
  target: string;
  environment: string;
  reason: string;
  ticket: string;
  openedAt: number;
}>`INSERT INTO reviews (id, request_id, subject, action, target, environment, reason, ticket, opened_at)
   VALUES (:id, :requestId, :subject, :action, :target, :environment, :reason, :ticket, :openedAt)`;
export const reviewById = sql<Id>`SELECT * FROM reviews WHERE id = :id`;
export const listReviews = sql<
  { status: string | null; openedBefore: number | null; before: number | null } & Limit
>`
  SELECT * FROM reviews
  WHERE (CAST(:status AS TEXT) IS NULL OR (:status = 'open') = (closed_at IS NULL))
    AND (CAST(:openedBefore AS BIGINT) IS NULL OR opened_at < :openedBefore)
    AND (CAST(:before AS BIGINT) IS NULL OR seq < :before)
  ORDER BY seq DESC LIMIT :limit`;
export const closeReview = sql<Id & { at: number; by: string; note: string }>`
  UPDATE reviews SET closed_at = :at, closed_by = :by, note = :note WHERE id = :id AND closed_at IS NULL`;
export const markReviewOverdue = sql<Id & { at: number }>`
  UPDATE reviews SET overdue_at = :at WHERE id = :id AND overdue_at IS NULL AND closed_at IS NULL`;

// --- artifacts
export const insertArtifact = sql<{
  id: string;
  requestId: string;
  subject: string;
  environment: string;
  agent: string;
  action: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  digestSource: string;
  store: string;
  location: string;
  createdAt: number;
  agentSignature: string | null;
  agentKey: string | null;
}>`INSERT INTO artifacts (id, request_id, subject, environment, agent, action, filename, content_type,
     size, sha256, digest_source, store, location, created_at, agent_signature, agent_key)
   VALUES (:id, :requestId, :subject, :environment, :agent, :action, :filename, :contentType,
     :size, :sha256, :digestSource, :store, :location, :createdAt, :agentSignature, :agentKey)`;
export const artifactById = sql<Id>`SELECT * FROM artifacts WHERE id = :id`;
export const listArtifacts = sql<{ before: number | null } & Limit>`
  SELECT * FROM artifacts WHERE (CAST(:before AS BIGINT) IS NULL OR seq < :before)
  ORDER BY seq DESC LIMIT :limit`;
export const listExpiredArtifacts = sql<{ environment: string; createdBefore: number } & Limit>`
  SELECT * FROM artifacts WHERE environment = :environment AND created_at < :createdBefore AND deleted_at IS NULL
  ORDER BY created_at LIMIT :limit`;
export const markArtifactDeleted = sql<Id & { at: number }>`
  UPDATE artifacts SET deleted_at = :at WHERE id = :id AND deleted_at IS NULL`;

// --- the audit chain and its checkpoints
export interface AuditRow {
  seq: number;
  time: string;
  actor: string;
  event: string;
  requestId: string | null;
  details: string;
  reason: string | null;
  ticket: string | null;
  prevHash: string;
  hash: string;
}
/** One record. SQLite runs it per record (a prepared statement, no round trip to save); PostgreSQL
 * writes all of a transaction's records in one statement (`rowsOf(insertAudit, n)`). */
export const insertAudit = sql<AuditRow>`
  INSERT INTO audit (seq, time, actor, event, request_id, details, reason, ticket, prev_hash, hash)
  VALUES (:seq, :time, :actor, :event, :requestId, :details, :reason, :ticket, :prevHash, :hash)`;
/** The chain's tail; read only under the chain's write lock (BEGIN IMMEDIATE, or audit_append_lock). */
export const auditTail = sql`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`;
/**
 * A request's audit records in chain order, each with its successor's `prev_hash` (null for the
 * chain's last record): what the dispatcher checks approvals against (issue 23, finding 5).
 */
export const listRequestAudit = sql<{ requestId: string }>`
  SELECT a.*, n.prev_hash AS next_prev_hash FROM audit a LEFT JOIN audit n ON n.seq = a.seq + 1
  WHERE a.request_id = :requestId ORDER BY a.seq`;
/** A collection's `collection.created` and `collection.approved` records, with their successors' `prev_hash`. */
export const listCollectionAudit = sql<{ pattern: string }>`
  SELECT a.*, n.prev_hash AS next_prev_hash FROM audit a LEFT JOIN audit n ON n.seq = a.seq + 1
  WHERE a.event IN ('collection.created', 'collection.approved') AND a.details LIKE :pattern ORDER BY a.seq`;
/**
 * A credential's issuance and revocation records (API tokens and enrollment tokens), with their
 * successors' `prev_hash`: what a token is checked against before it is accepted (issue 23 attack, N4).
 */
export const listCredentialAudit = sql<{ pattern: string }>`
  SELECT a.*, n.prev_hash AS next_prev_hash FROM audit a LEFT JOIN audit n ON n.seq = a.seq + 1
  WHERE a.event IN ('token.issued', 'token.revoked', 'enroll-token.issued', 'enroll-token.revoked')
    AND a.details LIKE :pattern ORDER BY a.seq`;
export const listAudit = sql<{ afterSeq: number } & Limit>`
  SELECT * FROM audit WHERE seq > :afterSeq ORDER BY seq LIMIT :limit`;
/** A second checkpoint for the same seq is ignored. */
export const insertCheckpoint = sql<{
  seq: number;
  hash: string;
  time: string;
  kid: string;
  signature: string;
}>`
  INSERT INTO audit_checkpoints (seq, hash, time, kid, signature) VALUES (:seq, :hash, :time, :kid, :signature)
  ON CONFLICT (seq) DO NOTHING`;
export const listCheckpoints = sql<{ afterSeq: number }>`
  SELECT * FROM audit_checkpoints WHERE seq > :afterSeq ORDER BY seq`;

// --- fleet: enrollment tokens and enrolled agents
export const insertEnrollToken = sql<{
  id: string;
  environment: string;
  secretHash: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
}>`INSERT INTO enroll_tokens (id, environment, secret_hash, created_by, created_at, expires_at)
   VALUES (:id, :environment, :secretHash, :createdBy, :createdAt, :expiresAt)`;
export const enrollTokenById = sql<Id>`SELECT * FROM enroll_tokens WHERE id = :id`;
export const listEnrollTokens = sql`SELECT * FROM enroll_tokens ORDER BY created_at, id`;
export const revokeEnrollToken = sql<Id & { at: number }>`
  UPDATE enroll_tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL`;
export const saveEnrolledAgent = sql<{
  id: string;
  environment: string;
  url: string;
  labels: string;
  actions: string;
  enrollTokenId: string;
  sessionHash: string;
  enrolledAt: number;
  lastSeenAt: number;
  publicKey: string | null;
  keyRotation: string | null;
}>`INSERT INTO enrolled_agents (id, environment, url, labels, actions, enroll_token_id, session_hash,
     enrolled_at, last_seen_at, public_key, key_rotation)
   VALUES (:id, :environment, :url, :labels, :actions, :enrollTokenId, :sessionHash, :enrolledAt, :lastSeenAt,
     :publicKey, :keyRotation)
   ON CONFLICT (id) DO UPDATE SET environment = excluded.environment, url = excluded.url,
     labels = excluded.labels, actions = excluded.actions, enroll_token_id = excluded.enroll_token_id,
     session_hash = excluded.session_hash, enrolled_at = excluded.enrolled_at,
     last_seen_at = excluded.last_seen_at, public_key = excluded.public_key,
     key_rotation = excluded.key_rotation`;
/** An operator's allowance (or its withdrawal) for an enrolled agent to re-enroll with another key. */
export const setKeyRotation = sql<Id & { keyRotation: string | null }>`
  UPDATE enrolled_agents SET key_rotation = :keyRotation WHERE id = :id`;
export const enrolledAgentById = sql<Id>`SELECT * FROM enrolled_agents WHERE id = :id`;
export const listEnrolledAgents = sql`SELECT * FROM enrolled_agents ORDER BY id`;
/**
 * Heartbeats, no audit: every agent's latest time, never moved back. One statement for the whole
 * batch in both: PostgreSQL takes the ids and times as two arrays, SQLite (no arrays) as one JSON
 * array of [id, at] pairs; and SQLite's two-argument MAX is PostgreSQL's GREATEST.
 */
export const recordHeartbeats = perDialect<{ ids: string[]; ats: number[]; seen: string }>({
  sqlite: sql`
    UPDATE enrolled_agents SET last_seen_at = MAX(last_seen_at, s.at)
    FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(:seen)) AS s
    WHERE enrolled_agents.id = s.id`,
  postgres: sql`
    UPDATE enrolled_agents a SET last_seen_at = GREATEST(a.last_seen_at, s.at)
    FROM unnest(CAST(:ids AS TEXT[]), CAST(:ats AS BIGINT[])) AS s(id, at) WHERE a.id = s.id`,
});

// --- fleet: collections
export const insertCollection = sql<{
  id: string;
  status: string;
  subject: string;
  action: string;
  selector: string;
  environment: string;
  params: string;
  reason: string;
  ticket: string | null;
  output: string;
  targets: string;
  targetsDigest: string;
  maxConcurrency: number;
  maxErrors: string | null;
  errorBudget: number;
  approvalsRequired: number;
  createdAt: number;
  expiresAt: number;
  trigger: string | null;
  requester: string | null;
}>`INSERT INTO collections (id, status, subject, action, selector, environment, params, reason, ticket,
     output_mode, targets, targets_digest, max_concurrency, max_errors, error_budget, approvals_required,
     created_at, updated_at, expires_at, trigger, requester)
   VALUES (:id, :status, :subject, :action, :selector, :environment, :params, :reason, :ticket,
     :output, :targets, :targetsDigest, :maxConcurrency, :maxErrors, :errorBudget, :approvalsRequired,
     :createdAt, :createdAt, :expiresAt, :trigger, :requester)`;
export const collectionById = sql<Id>`SELECT * FROM collections WHERE id = :id`;
export const collectionByIdForUpdate = sql<Id>`SELECT * FROM collections WHERE id = :id${FOR_UPDATE}`;
export const listCollections = sql<{ status: string | null; before: number | null } & Limit>`
  SELECT * FROM collections
  WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)
    AND (CAST(:before AS BIGINT) IS NULL OR seq < :before)
  ORDER BY seq DESC LIMIT :limit`;
export const listCollectionsByStatus = sql<{ status: string } & Limit>`
  SELECT * FROM collections WHERE status = :status ORDER BY seq LIMIT :limit`;
export const transitionCollection = sql<{
  id: string;
  from: string;
  to: string;
  at: number;
  summary: string | null;
  deniedBy: string | null;
  denialReason: string | null;
}>`UPDATE collections SET status = :to, updated_at = :at, summary = COALESCE(:summary, summary),
     denied_by = COALESCE(:deniedBy, denied_by), denial_reason = COALESCE(:denialReason, denial_reason)
   WHERE id = :id AND status = :from`;
export const approveCollection = sql<Id & { at: number }>`
  UPDATE collections SET status = 'approved', updated_at = :at WHERE id = :id AND status = 'pending'`;
export const touchCollection = sql<
  Id & { at: number }
>`UPDATE collections SET updated_at = :at WHERE id = :id`;
/** A pending collection's approval count, raised to what the policy in force requires (never lowered). */
export const raiseCollectionApprovals = sql<Id & { required: number }>`
  UPDATE collections SET approvals_required = :required WHERE id = :id AND approvals_required < :required`;
export const insertCollectionApproval = sql<{ collectionId: string } & Approval>`
  INSERT INTO collection_approvals (collection_id, subject, at, note) VALUES (:collectionId, :subject, :at, :note)
  ON CONFLICT (collection_id, subject) DO NOTHING`;
/** Unordered, like `approvalsOf`: `toApprovals` orders them. */
export const collectionApprovalsOf = sql<{ collectionId: string }>`
  SELECT subject, at, note FROM collection_approvals WHERE collection_id = :collectionId`;
/** A target's request created by a collection carries its approvals (copied from the collection's). */
export const insertApprovalCopy = sql<{ requestId: string } & Approval>`
  INSERT INTO approvals (request_id, subject, at, note) VALUES (:requestId, :subject, :at, :note)`;
export const linkCollectionRequest = sql<{ collectionId: string; target: string; requestId: string }>`
  INSERT INTO collection_requests (collection_id, target, request_id) VALUES (:collectionId, :target, :requestId)`;
export const listCollectionRequests = sql<{ collectionId: string }>`
  SELECT target, request_id FROM collection_requests WHERE collection_id = :collectionId ORDER BY seq`;
/** Fires once per cooldown: the upsert changes a row only when the last firing is old enough. */
export const claimTriggerFiring = sql<{ key: string; at: number; cooldownMs: number }>`
  INSERT INTO trigger_firings (key, fired_at) VALUES (:key, :at)
  ON CONFLICT (key) DO UPDATE SET fired_at = :at WHERE trigger_firings.fired_at <= :at - :cooldownMs`;
