/**
 * The fleet's part of the SQLite store. It runs inside the SqliteStore's own transactions and appends
 * to its audit chain through the functions the store hands it, so nothing here can write a state
 * change without its records. Its queries are shared with the PostgreSQL store (queries.ts).
 */
import type { AuditEntry, AuditRecord } from "../audit/chain.js";
import { collectionRow, toCollection, toEnrolledAgent, toEnrollToken } from "./fleet-rows.js";
import type {
  CollectionRecord,
  CollectionRequestLink,
  CollectionStatus,
  CollectionSummary,
  EnrolledAgentRecord,
  EnrollTokenRecord,
  FleetStore,
  KeyRotation,
  NewCollection,
  RequestBatchItem,
} from "./fleet-types.js";
import * as Q from "./queries.js";
import { num, requestRow, toApprovals, transitionRow } from "./rows.js";
import type { SqliteDb } from "./sqlite-db.js";
import type { ApprovalOutcome, ApprovalRecord, NewApproval, NewRequest, TransitionFields } from "./types.js";

export class SqliteFleetStore implements FleetStore {
  constructor(
    private readonly db: SqliteDb,
    private readonly write: <T>(fn: () => T) => T,
    private readonly append: (entries: readonly AuditEntry[], at: number) => AuditRecord[],
  ) {}

  async insertEnrollToken(token: EnrollTokenRecord, audit: AuditEntry, at: number): Promise<void> {
    this.write(() => {
      this.db.run(Q.insertEnrollToken, token);
      this.append([audit], at);
    });
  }

  async getEnrollToken(id: string): Promise<EnrollTokenRecord | undefined> {
    const row = this.db.get(Q.enrollTokenById, { id });
    return row && toEnrollToken(row);
  }

  async listEnrollTokens(): Promise<EnrollTokenRecord[]> {
    return this.db.all(Q.listEnrollTokens, {}).map(toEnrollToken);
  }

  async revokeEnrollToken(id: string, at: number, audit: AuditEntry) {
    return this.write(() => {
      const changed = this.db.run(Q.revokeEnrollToken, { id, at });
      const row = this.db.get(Q.enrollTokenById, { id });
      if (!row) return { kind: "not-found" as const };
      if (changed === 0) return { kind: "already-revoked" as const, token: toEnrollToken(row) };
      this.append([audit], at);
      return { kind: "revoked" as const, token: toEnrollToken(row) };
    });
  }

  async saveEnrolledAgent(
    agent: EnrolledAgentRecord,
    audit: readonly AuditEntry[],
    at: number,
  ): Promise<void> {
    this.write(() => {
      this.db.run(Q.saveEnrolledAgent, {
        ...agent,
        labels: JSON.stringify(agent.labels),
        actions: JSON.stringify(agent.actions),
        publicKey: agent.publicKey ?? null,
        keyRotation: agent.keyRotation ? JSON.stringify(agent.keyRotation) : null,
      });
      this.append(audit, at);
    });
  }

  async getEnrolledAgent(id: string): Promise<EnrolledAgentRecord | undefined> {
    const row = this.db.get(Q.enrolledAgentById, { id });
    return row && toEnrolledAgent(row);
  }

  async listEnrolledAgents(): Promise<EnrolledAgentRecord[]> {
    return this.db.all(Q.listEnrolledAgents, {}).map(toEnrolledAgent);
  }

  async setKeyRotation(
    id: string,
    rotation: KeyRotation | undefined,
    audit: readonly AuditEntry[],
    at: number,
  ): Promise<boolean> {
    return this.write(() => {
      const changed = this.db.run(Q.setKeyRotation, {
        id,
        keyRotation: rotation ? JSON.stringify(rotation) : null,
      });
      if (changed === 0) return false;
      this.append(audit, at);
      return true;
    });
  }

  async recordHeartbeats(seen: readonly { id: string; at: number }[]): Promise<void> {
    if (seen.length === 0) return;
    this.db.run(Q.recordHeartbeats, {
      ids: [],
      ats: [],
      seen: JSON.stringify(seen.map((s) => [s.id, s.at])),
    });
  }

  async createCollection(collection: NewCollection, audit: readonly AuditEntry[], at: number): Promise<void> {
    this.write(() => {
      this.db.run(Q.insertCollection, collectionRow(collection));
      this.append(audit, at);
    });
  }

  async getCollection(id: string): Promise<CollectionRecord | undefined> {
    const row = this.db.get(Q.collectionById, { id });
    return row && toCollection(row, this.approvalsOf(id));
  }

  async listCollections(query: { status?: CollectionStatus; limit: number; before?: number }) {
    const rows = this.db.all(Q.listCollections, {
      status: query.status ?? null,
      before: query.before ?? null,
      limit: query.limit,
    });
    return rows.map((row) => ({
      record: toCollection(row, this.approvalsOf(String(row.id))),
      cursor: num(row.seq),
    }));
  }

  async listCollectionsByStatus(status: CollectionStatus, limit: number): Promise<CollectionRecord[]> {
    return this.db
      .all(Q.listCollectionsByStatus, { status, limit })
      .map((row) => toCollection(row, this.approvalsOf(String(row.id))));
  }

  async transitionCollection(
    change: {
      id: string;
      from: CollectionStatus;
      to: CollectionStatus;
      at: number;
      set?: { summary?: CollectionSummary; denial?: { by: string; reason: string } };
    },
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      const changed = this.db.run(Q.transitionCollection, {
        id: change.id,
        from: change.from,
        to: change.to,
        at: change.at,
        summary: change.set?.summary ? JSON.stringify(change.set.summary) : null,
        deniedBy: change.set?.denial?.by ?? null,
        denialReason: change.set?.denial?.reason ?? null,
      });
      if (changed === 0) return false;
      this.append(audit, change.at);
      return true;
    });
  }

  async addCollectionApproval(
    approval: NewApproval & { readonly collectionId: string },
    audit: (outcome: { count: number; approved: boolean }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write((): ApprovalOutcome => {
      const { collectionId, at } = approval;
      const required = approval.required ?? 0;
      const row = this.db.get(Q.collectionByIdForUpdate, { id: collectionId });
      if (!row) return { kind: "not-found" };
      // The request statuses' type is shared with ApprovalOutcome; a collection's pending is the same word.
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as never };
      const inserted = this.db.run(Q.insertCollectionApproval, {
        collectionId,
        subject: approval.subject,
        at,
        note: approval.note ?? null,
      });
      if (inserted === 0) return { kind: "duplicate" };
      this.db.run(Q.raiseCollectionApprovals, { id: collectionId, required });
      const recorded = this.approvalsOf(collectionId).length;
      const count = recorded - (approval.discount ?? 0);
      let approved = false;
      if (count >= Math.max(num(row.approvals_required), required)) {
        approved = this.db.run(Q.approveCollection, { id: collectionId, at }) === 1;
      } else {
        this.db.run(Q.touchCollection, { id: collectionId, at });
      }
      this.append(audit({ count, approved }), at);
      return { kind: "added", count, approved };
    });
  }

  async applyRequestBatch(items: readonly RequestBatchItem[], at: number): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.write(() => {
      const applied: boolean[] = [];
      const audit: AuditEntry[] = [];
      for (const item of items) {
        const ok =
          item.kind === "create"
            ? this.insertChild(item.collectionId, item.request, item.approvals, item.set)
            : this.db.run(Q.transitionRequest, transitionRow({ ...item.change, at })) === 1;
        applied.push(ok);
        if (ok) audit.push(...item.audit);
      }
      this.append(audit, at);
      return applied;
    });
  }

  async listCollectionRequests(collectionId: string): Promise<CollectionRequestLink[]> {
    return this.db
      .all(Q.listCollectionRequests, { collectionId })
      .map((r) => ({ target: String(r.target), requestId: String(r.request_id) }));
  }

  async claimTriggerFiring(
    key: string,
    at: number,
    cooldownMs: number,
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      if (this.db.run(Q.claimTriggerFiring, { key, at, cooldownMs }) === 0) return false;
      this.append(audit, at);
      return true;
    });
  }

  private insertChild(
    collectionId: string,
    request: NewRequest,
    approvals: readonly ApprovalRecord[],
    set: TransitionFields | undefined,
  ): boolean {
    this.db.run(Q.insertRequest, requestRow(request, set));
    for (const a of approvals)
      this.db.run(Q.insertApprovalCopy, { requestId: request.id, ...a, note: a.note ?? null });
    this.db.run(Q.linkCollectionRequest, { collectionId, target: request.target, requestId: request.id });
    return true;
  }

  private approvalsOf(collectionId: string): ApprovalRecord[] {
    return toApprovals(this.db.all(Q.collectionApprovalsOf, { collectionId }));
  }
}
