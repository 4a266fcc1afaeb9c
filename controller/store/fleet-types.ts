/**
 * The fleet's persistence (docs/fleet.md): enrollment tokens, enrolled agents, collections and the
 * trigger cooldowns. A part of every Store (`store.fleet`), so each state change is written with its
 * audit records in the same transaction and the same chain as the rest of the controller's.
 */
import type { AuditEntry } from "../audit/chain.js";
import type {
  ApprovalOutcome,
  ApprovalRecord,
  NewApproval,
  NewRequest,
  RequesterRecord,
  RequestStatus,
  TransitionFields,
} from "./types.js";

/** A token that lets agents enroll themselves into one environment. Only SHA-256 of its secret is kept. */
export interface EnrollTokenRecord {
  readonly id: string;
  readonly environment: string;
  readonly secretHash: string;
  /** Who issued it (`local:<os user>` from the CLI). */
  readonly createdBy: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | undefined;
}

/** An agent that enrolled itself. Its session secret (heartbeats) is stored as a hash only. */
export interface EnrolledAgentRecord {
  readonly id: string;
  readonly environment: string;
  /** Where the controller reaches it. */
  readonly url: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly actions: readonly string[];
  readonly enrollTokenId: string;
  readonly sessionHash: string;
  readonly enrolledAt: number;
  readonly lastSeenAt: number;
  /**
   * Its Ed25519 public key (base64url), pinned at its first enrollment (issue 21); undefined only for
   * rows enrolled before keys existed, which pin at their next enrollment.
   */
  readonly publicKey?: string | undefined;
  /** An operator's allowance to re-enroll with another key (`keyhole agent-key allow-rotation`), until used. */
  readonly keyRotation?: KeyRotation | undefined;
}

/** Until when an enrolled agent may re-enroll with another key, and optionally which one. */
export interface KeyRotation {
  readonly until: number;
  readonly publicKey?: string | undefined;
  readonly allowedBy: string;
}

export type CollectionStatus =
  | "pending"
  | "approved"
  | "running"
  | "completed"
  | "stopped"
  | "denied"
  | "expired";
export const COLLECTION_STATUSES = [
  "pending",
  "approved",
  "running",
  "completed",
  "stopped",
  "denied",
  "expired",
] as const satisfies readonly CollectionStatus[];

/** One agent of a collection's frozen target list. */
export interface CollectionTarget {
  readonly id: string;
  readonly url: string;
  /** `static` (inventory file) or `enrolled`. */
  readonly source: "static" | "enrolled";
  readonly labels: Readonly<Record<string, string>>;
}

/** The error budget as the requester wrote it: a count, or a percentage of the targets. */
export type MaxErrors =
  | { readonly kind: "count"; readonly value: number }
  | { readonly kind: "percent"; readonly value: number };

export interface CollectionSummary {
  readonly targets: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Never started because the error budget was spent (or the collection was interrupted). */
  readonly skipped: number;
  /** True when the error budget stopped new dispatches. */
  readonly budgetSpent: boolean;
  readonly startedAt: number;
  readonly finishedAt: number;
}

/** What set a collection off, when an alert did. */
export interface CollectionTrigger {
  readonly rule: string;
  readonly fingerprint: string;
  readonly alertname: string | undefined;
}

/** One request over many agents. Times are epoch milliseconds. */
export interface CollectionRecord {
  readonly id: string;
  readonly status: CollectionStatus;
  readonly subject: string;
  readonly action: string;
  /** The selector as given, e.g. `app=payments`. */
  readonly selector: string;
  readonly environment: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly reason: string;
  readonly ticket: string | undefined;
  readonly output: "inline" | "stream";
  /** Frozen at creation: exactly what an approver sees and approves. */
  readonly targets: readonly CollectionTarget[];
  /** SHA-256 of the canonical JSON of the target ids: what an approval binds to. */
  readonly targetsDigest: string;
  readonly maxConcurrency: number;
  readonly maxErrors: MaxErrors | undefined;
  /** Failures tolerated: the collection starts no new target once more than this many failed. */
  readonly errorBudget: number;
  readonly approvalsRequired: number;
  readonly approvals: readonly ApprovalRecord[];
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number;
  readonly trigger: CollectionTrigger | undefined;
  readonly summary: CollectionSummary | undefined;
  readonly denial: { readonly by: string; readonly reason: string } | undefined;
  /** The requester's groups and credential as filed; its target requests inherit it. */
  readonly requester: RequesterRecord | undefined;
}

export type NewCollection = Omit<
  CollectionRecord,
  "approvals" | "updatedAt" | "summary" | "denial" | "requester"
> & { readonly requester?: RequesterRecord };

/** One target's request, as a collection links it. */
export interface CollectionRequestLink {
  readonly target: string;
  readonly requestId: string;
}

/** One write of a batch: a new request (with the approvals it inherits) or a compare-and-set move. */
export type RequestBatchItem =
  | {
      readonly kind: "create";
      readonly collectionId: string;
      readonly request: NewRequest;
      readonly approvals: readonly ApprovalRecord[];
      /** Set when the request is created already dispatched. */
      readonly set?: TransitionFields;
      readonly audit: readonly AuditEntry[];
    }
  | {
      readonly kind: "transition";
      readonly change: {
        readonly id: string;
        readonly from: RequestStatus;
        readonly to: RequestStatus;
        readonly set?: TransitionFields;
      };
      readonly audit: readonly AuditEntry[];
    };

export interface FleetStore {
  insertEnrollToken(token: EnrollTokenRecord, audit: AuditEntry, at: number): Promise<void>;
  getEnrollToken(id: string): Promise<EnrollTokenRecord | undefined>;
  listEnrollTokens(): Promise<EnrollTokenRecord[]>;
  /** Marks a token revoked once; later calls change nothing and write no record. */
  revokeEnrollToken(
    id: string,
    at: number,
    audit: AuditEntry,
  ): Promise<{ kind: "revoked" | "already-revoked"; token: EnrollTokenRecord } | { kind: "not-found" }>;

  /** Inserts or replaces an agent's registration and appends `audit`. */
  saveEnrolledAgent(agent: EnrolledAgentRecord, audit: readonly AuditEntry[], at: number): Promise<void>;
  getEnrolledAgent(id: string): Promise<EnrolledAgentRecord | undefined>;
  listEnrolledAgents(): Promise<EnrolledAgentRecord[]>;
  /** Sets (or clears) an enrolled agent's key rotation allowance with its audit records; false for an unknown id. */
  setKeyRotation(
    id: string,
    rotation: KeyRotation | undefined,
    audit: readonly AuditEntry[],
    at: number,
  ): Promise<boolean>;
  /** Stamps `lastSeenAt` of several agents in one transaction. Heartbeats are not audited. */
  recordHeartbeats(seen: readonly { id: string; at: number }[]): Promise<void>;

  createCollection(collection: NewCollection, audit: readonly AuditEntry[], at: number): Promise<void>;
  getCollection(id: string): Promise<CollectionRecord | undefined>;
  /** Newest first; `before` is the cursor of the last page's last row. */
  listCollections(query: {
    status?: CollectionStatus;
    limit: number;
    before?: number;
  }): Promise<{ record: CollectionRecord; cursor: number }[]>;
  /** Oldest first. */
  listCollectionsByStatus(status: CollectionStatus, limit: number): Promise<CollectionRecord[]>;
  /** Compare-and-set, like `transitionRequest`. */
  transitionCollection(
    change: {
      id: string;
      from: CollectionStatus;
      to: CollectionStatus;
      at: number;
      set?: { summary?: CollectionSummary; denial?: { by: string; reason: string } };
    },
    audit: readonly AuditEntry[],
  ): Promise<boolean>;
  /** Like `addApproval` of a request: once per subject, approving when the count is reached. */
  addCollectionApproval(
    approval: NewApproval & { readonly collectionId: string },
    audit: (outcome: { count: number; approved: boolean }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome>;
  /**
   * Several request writes in one transaction (one commit for many targets). Each item applies, with
   * its audit, or (a transition whose request moved on) is skipped; the result says which.
   */
  applyRequestBatch(items: readonly RequestBatchItem[], at: number): Promise<boolean[]>;
  /** The requests a collection created, in creation order. */
  listCollectionRequests(collectionId: string): Promise<CollectionRequestLink[]>;

  /**
   * Claims one firing of `key` (a rule and an alert fingerprint): true and recorded with `audit` when
   * it has not fired since `at - cooldownMs`, false (nothing written) otherwise.
   */
  claimTriggerFiring(
    key: string,
    at: number,
    cooldownMs: number,
    audit: readonly AuditEntry[],
  ): Promise<boolean>;
}
