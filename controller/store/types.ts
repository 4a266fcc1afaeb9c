/**
 * The controller's persistence, as one async interface with two implementations: the embedded SQLite
 * store (sqlite-store.ts) and PostgreSQL for several replicas on one database (postgres-store.ts).
 * Every state change and its audit records are written in one transaction, and request transitions
 * are compare-and-set, so a request moves at most once from any state (e.g. it is dispatched exactly
 * once) however many callers, in however many controllers, race. A method added here is added to
 * both stores and to the shared contract (test/integration/controller/store-contract*.ts).
 */
import type { AuditEntry, AuditRecord } from "../audit/chain.js";
import type { AuditCheckpoint } from "../audit/checkpoint.js";
import type { FleetStore } from "./fleet-types.js";

/** An audit record with the `prevHash` of its successor in the chain (undefined at the head). */
export interface LinkedAuditRecord extends AuditRecord {
  readonly nextPrevHash: string | undefined;
}

export type RequestStatus =
  | "pending"
  | "approved"
  | "dispatched"
  | "completed"
  | "failed"
  | "denied"
  | "expired";
export const REQUEST_STATUSES = [
  "pending",
  "approved",
  "dispatched",
  "completed",
  "failed",
  "denied",
  "expired",
] as const satisfies readonly RequestStatus[];

/** How a request's result leaves the agent (the envelope's `output.mode`). */
export type OutputMode = "inline" | "stream" | "s3";
export const OUTPUT_MODES = ["inline", "stream", "s3"] as const satisfies readonly OutputMode[];

/**
 * One stored artifact and its chain of custody. `digestSource` says who computed `sha256`: the
 * controller over the bytes it stored or read back, or the agent alone (large direct uploads).
 */
/** One approval to record (of a request or a collection). */
export interface NewApproval {
  readonly subject: string;
  readonly note: string | undefined;
  readonly at: number;
  /** What the policy in force requires now: the stored count is raised to it, never lowered. */
  readonly required?: number;
  /**
   * How many of the approvals already recorded no longer count (their approver lost the right or the
   * credential since; issue 23 attack, N1): the item is approved when the recorded approvals less
   * these reach what is required. The approvals stay recorded.
   */
  readonly discount?: number;
}

export interface ArtifactRecord {
  readonly id: string;
  readonly requestId: string;
  /** The requester, environment and action: who may see it is decided like for the request. */
  readonly subject: string;
  readonly environment: string;
  readonly agent: string;
  readonly action: string;
  readonly filename: string;
  readonly contentType: string;
  readonly size: number;
  readonly sha256: string;
  readonly digestSource: "controller" | "agent-reported";
  /** `local` or `s3`, and where in it: a file path, or `s3://bucket/key`. */
  readonly store: string;
  readonly location: string;
  readonly createdAt: number;
  readonly deletedAt: number | undefined;
  /**
   * The agent's signature over the request's jti and the artifact's SHA-256, size and mask counts
   * (protocol/answer.ts), and the public key it verified with; absent on artifacts stored before
   * answers were signed.
   */
  readonly agentSignature?: string | undefined;
  readonly agentKey?: string | undefined;
}

/** A controller-issued bearer token. Only the SHA-256 of its secret is ever stored. */
export interface TokenRecord {
  readonly id: string;
  readonly subject: string;
  readonly groups: readonly string[];
  /** SHA-256 of the secret part, hex. */
  readonly secretHash: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | undefined;
}

/**
 * Who filed a request, as much as checking their entitlement again needs: the groups their credential
 * carried when they filed it and which credential that was. Requests and collections keep it so the
 * filing rule can be applied again, against the policy and credentials in force, at approval and at
 * dispatch. Undefined on requests filed before the controller recorded it.
 */
export interface RequesterRecord {
  readonly groups: readonly string[];
  readonly credential: { readonly kind: "token" | "oidc"; readonly id: string };
}

export interface ApprovalRecord {
  readonly subject: string;
  readonly at: number;
  readonly note: string | undefined;
}

/** A diagnostic request and everything decided about it. Times are epoch milliseconds. */
export interface RequestRecord {
  readonly id: string;
  readonly status: RequestStatus;
  readonly subject: string;
  readonly action: string;
  readonly target: string;
  readonly environment: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly reason: string;
  readonly ticket: string | undefined;
  readonly output: OutputMode;
  readonly approvalsRequired: number;
  readonly approvals: readonly ApprovalRecord[];
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When a still-pending request expires. */
  readonly expiresAt: number;
  /** The envelope's `jti` and signing key, once dispatched. */
  readonly jti: string | undefined;
  readonly kid: string | undefined;
  /** Absent from list pages (`listRequests`), which set `hasResult` instead. */
  readonly result: unknown;
  /** Set only by `listRequests`: whether a result is stored (fetch it with `getRequest`). */
  readonly hasResult?: boolean;
  readonly error: { readonly code: string; readonly message: string } | undefined;
  readonly denial: { readonly by: string; readonly reason: string } | undefined;
  /** The stored artifact of a completed stream or s3 request. */
  readonly artifactId: string | undefined;
  /** The agent's signature on its inline answer (protocol/answer.ts), kept with the result. */
  readonly answerSignature?: string | undefined;
  /** Sent without approval under break-glass (the envelope's `breakGlass` claim); a review follows. */
  readonly breakGlass: boolean;
  /** The requester's groups and credential as filed (requests filed before it was recorded: undefined). */
  readonly requester: RequesterRecord | undefined;
}

export type NewRequest = Omit<
  RequestRecord,
  | "approvals"
  | "updatedAt"
  | "jti"
  | "kid"
  | "result"
  | "error"
  | "denial"
  | "artifactId"
  | "output"
  | "breakGlass"
  | "requester"
> & { readonly output?: OutputMode; readonly breakGlass?: boolean; readonly requester?: RequesterRecord };

/**
 * The review a break-glass request leaves open until someone other than its user closes it with a
 * note. Times are epoch milliseconds.
 */
export interface ReviewRecord {
  readonly id: string;
  readonly requestId: string;
  /** Who used break-glass. */
  readonly subject: string;
  readonly action: string;
  readonly target: string;
  readonly environment: string;
  readonly reason: string;
  readonly ticket: string;
  readonly openedAt: number;
  readonly closedAt: number | undefined;
  readonly closedBy: string | undefined;
  readonly note: string | undefined;
  /** When the review was first reported as open for too long (once). */
  readonly overdueAt: number | undefined;
}

/** The outcome of filing a break-glass request: refused when the subject used it since `cooldownSince`. */
export type BreakGlassOutcome =
  | { readonly kind: "created" }
  | { readonly kind: "cooldown"; readonly lastAt: number };

/** Fields a transition may set alongside the new status. */
export interface TransitionFields {
  readonly jti?: string;
  readonly kid?: string;
  readonly result?: unknown;
  /** The agent's signature on the answer `result` is (protocol/answer.ts). */
  readonly answerSignature?: string;
  readonly error?: { code: string; message: string };
  readonly denial?: { by: string; reason: string };
}

export type ApprovalOutcome =
  | { readonly kind: "not-found" }
  | { readonly kind: "not-pending"; readonly status: RequestStatus }
  | { readonly kind: "duplicate" }
  /** Recorded; `approved` when this approval moved the request pending → approved. */
  | { readonly kind: "added"; readonly count: number; readonly approved: boolean };

/**
 * Counts one event for `key` in a fixed window of `windowMs` starting at its first event, across
 * every controller sharing the database: the count so far in the window, and when the window began.
 */
export type RateCounter = (
  key: string,
  at: number,
  windowMs: number,
) => Promise<{ count: number; windowStart: number }>;

export interface Store {
  /** Enrollment, enrolled agents, collections and trigger cooldowns (fleet-types.ts). */
  readonly fleet: FleetStore;
  /**
   * Request-rate counting shared by replicas, where the database is shared (PostgreSQL); undefined
   * for SQLite, whose single controller counts in memory.
   */
  readonly sharedRateCounter?: RateCounter;
  /** Stores a new token and its `token.issued` record. */
  insertToken(token: TokenRecord, audit: AuditEntry, at: number): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Marks a token revoked once; later calls change nothing and write no record. */
  revokeToken(
    id: string,
    at: number,
    audit: AuditEntry,
  ): Promise<{ kind: "revoked" | "already-revoked"; token: TokenRecord } | { kind: "not-found" }>;

  createRequest(request: NewRequest, audit: readonly AuditEntry[], at: number): Promise<void>;
  getRequest(id: string): Promise<RequestRecord | undefined>;
  /**
   * Newest first; `before` is a cursor from the last page (`listCursor` of its last record). Records
   * come without `result` (never loaded), with `hasResult` instead.
   */
  listRequests(query: {
    status?: RequestStatus;
    limit: number;
    before?: number;
  }): Promise<{ record: RequestRecord; cursor: number }[]>;
  /** Pending requests whose `expiresAt` is at or before `now`. */
  listExpiredPending(now: number, limit: number): Promise<RequestRecord[]>;
  /** Requests in one status, oldest first (e.g. approved ones left undispatched by a crash). */
  listByStatus(status: RequestStatus, limit: number): Promise<RequestRecord[]>;
  /**
   * Compare-and-set: moves `id` from `from` to `to` and appends `audit`, or does nothing and returns
   * false when the request is not in `from` any more.
   */
  transitionRequest(
    change: { id: string; from: RequestStatus; to: RequestStatus; at: number; set?: TransitionFields },
    audit: readonly AuditEntry[],
  ): Promise<boolean>;
  /**
   * Records one approval of a pending request, once per subject; when the count of distinct approvals
   * reaches `approvalsRequired` the request becomes approved in the same transaction. `audit` builds
   * the records from the outcome, so they carry the count.
   */
  addApproval(
    approval: NewApproval & { readonly requestId: string },
    audit: (outcome: { count: number; approved: boolean; request: RequestRecord }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome>;

  /**
   * Registers a stored artifact and completes its request in one transaction: the artifact row,
   * the request's move dispatched → completed (with `result` and the artifact id) and `audit`. Does
   * nothing and returns false when the request is not dispatched any more.
   */
  registerArtifact(artifact: ArtifactRecord, result: unknown, audit: readonly AuditEntry[]): Promise<boolean>;
  getArtifact(id: string): Promise<ArtifactRecord | undefined>;
  /** Newest first, deleted ones included; `before` is the cursor of the last page's last row. */
  listArtifacts(query: {
    limit: number;
    before?: number;
  }): Promise<{ record: ArtifactRecord; cursor: number }[]>;
  /** Live artifacts of `environment` created before `createdBefore`, oldest first. */
  listExpiredArtifacts(environment: string, createdBefore: number, limit: number): Promise<ArtifactRecord[]>;
  /** Stamps `deletedAt` once and appends `audit`; false when it was already deleted. */
  markArtifactDeleted(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean>;

  /**
   * Files a break-glass request (status approved) with its open review in one transaction, unless
   * `request.subject` filed a break-glass request at or after `cooldownSince`: checked and written
   * under one lock, so two racing requests of one subject cannot both pass the cooldown.
   */
  createBreakGlassRequest(
    request: NewRequest,
    review: ReviewRecord,
    audit: readonly AuditEntry[],
    at: number,
    cooldownSince: number,
  ): Promise<BreakGlassOutcome>;
  getReview(id: string): Promise<ReviewRecord | undefined>;
  /**
   * Newest first; `status` open or closed (default both), `openedBefore` only reviews opened before
   * it, `before` the cursor of the last page's last row.
   */
  listReviews(query: {
    status?: "open" | "closed";
    openedBefore?: number;
    limit: number;
    before?: number;
  }): Promise<{ record: ReviewRecord; cursor: number }[]>;
  /** Closes an open review once (compare-and-set) and appends `audit`; false when it was closed already. */
  closeReview(
    change: { id: string; by: string; note: string; at: number },
    audit: readonly AuditEntry[],
  ): Promise<boolean>;
  /** Stamps `overdueAt` on an open review once and appends `audit`; false when stamped or closed. */
  markReviewOverdue(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean>;

  appendAudit(audit: readonly AuditEntry[], at: number): Promise<AuditRecord[]>;
  /**
   * A request's audit records, and a collection's `collection.created` / `collection.approved`
   * records, in chain order, each with its successor's `prevHash`: the chain records the dispatcher
   * checks approvals against before it signs (issue 23, finding 5).
   */
  listRequestAudit(requestId: string): Promise<LinkedAuditRecord[]>;
  listCollectionAudit(collectionId: string): Promise<LinkedAuditRecord[]>;
  /** A token's or enrollment token's issuance and revocation records, in chain order. */
  listCredentialAudit(id: string): Promise<LinkedAuditRecord[]>;
  /** Audit records in chain order, from `afterSeq` (exclusive). */
  listAudit(query?: { afterSeq?: number; limit?: number }): Promise<AuditRecord[]>;
  /** The newest audit record's seq and hash; undefined while the chain is empty. */
  auditHead(): Promise<{ seq: number; hash: string } | undefined>;
  /** Stores a signed checkpoint of the audit chain; a second one for the same seq is ignored. */
  appendCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
  /** Signed checkpoints in seq order, from `afterSeq` (exclusive). */
  listCheckpoints(query?: { afterSeq?: number }): Promise<AuditCheckpoint[]>;

  close(): Promise<void>;
}
