/**
 * The fleet's part of the PostgreSQL store, the twin of sqlite-fleet.ts over the same queries
 * (queries.ts). It runs inside the PostgresStore's transactions and appends to its chain through
 * the functions the store hands it; as there, row locks come first and the chain's lock last, so
 * writers cannot deadlock.
 */
import type pg from "pg";
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
import { run } from "./postgres-store.js";
import * as Q from "./queries.js";
import { num, type Row, requestRow, toApprovals, transitionRow } from "./rows.js";
import type { ApprovalOutcome, ApprovalRecord, NewApproval, NewRequest, TransitionFields } from "./types.js";

type Client = pg.PoolClient;

export class PostgresFleetStore implements FleetStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly write: <T>(fn: (c: Client) => Promise<T>) => Promise<T>,
    private readonly append: (
      c: Client,
      entries: readonly AuditEntry[],
      at: number,
    ) => Promise<AuditRecord[]>,
  ) {}

  async insertEnrollToken(token: EnrollTokenRecord, audit: AuditEntry, at: number): Promise<void> {
    await this.write(async (c) => {
      await run(c, Q.insertEnrollToken, token);
      await this.append(c, [audit], at);
    });
  }

  async getEnrollToken(id: string): Promise<EnrollTokenRecord | undefined> {
    const row = (await run(this.pool, Q.enrollTokenById, { id })).rows[0];
    return row && toEnrollToken(row);
  }

  async listEnrollTokens(): Promise<EnrollTokenRecord[]> {
    return (await run(this.pool, Q.listEnrollTokens, {})).rows.map(toEnrollToken);
  }

  async revokeEnrollToken(id: string, at: number, audit: AuditEntry) {
    return this.write(async (c) => {
      const changed = (await run(c, Q.revokeEnrollToken, { id, at })).rowCount;
      const row = (await run(c, Q.enrollTokenById, { id })).rows[0];
      if (!row) return { kind: "not-found" as const };
      if (changed === 0) return { kind: "already-revoked" as const, token: toEnrollToken(row) };
      await this.append(c, [audit], at);
      return { kind: "revoked" as const, token: toEnrollToken(row) };
    });
  }

  async saveEnrolledAgent(
    agent: EnrolledAgentRecord,
    audit: readonly AuditEntry[],
    at: number,
  ): Promise<void> {
    await this.write(async (c) => {
      await run(c, Q.saveEnrolledAgent, {
        ...agent,
        labels: JSON.stringify(agent.labels),
        actions: JSON.stringify(agent.actions),
        publicKey: agent.publicKey ?? null,
        keyRotation: agent.keyRotation ? JSON.stringify(agent.keyRotation) : null,
      });
      await this.append(c, audit, at);
    });
  }

  async getEnrolledAgent(id: string): Promise<EnrolledAgentRecord | undefined> {
    const row = (await run(this.pool, Q.enrolledAgentById, { id })).rows[0];
    return row && toEnrolledAgent(row);
  }

  async listEnrolledAgents(): Promise<EnrolledAgentRecord[]> {
    return (await run(this.pool, Q.listEnrolledAgents, {})).rows.map(toEnrolledAgent);
  }

  async setKeyRotation(
    id: string,
    rotation: KeyRotation | undefined,
    audit: readonly AuditEntry[],
    at: number,
  ): Promise<boolean> {
    return this.write(async (c) => {
      const changed = (
        await run(c, Q.setKeyRotation, { id, keyRotation: rotation ? JSON.stringify(rotation) : null })
      ).rowCount;
      if (changed === 0) return false;
      await this.append(c, audit, at);
      return true;
    });
  }

  async recordHeartbeats(seen: readonly { id: string; at: number }[]): Promise<void> {
    if (seen.length === 0) return;
    await run(this.pool, Q.recordHeartbeats, {
      ids: seen.map((s) => s.id),
      ats: seen.map((s) => s.at),
      seen: "",
    });
  }

  async createCollection(collection: NewCollection, audit: readonly AuditEntry[], at: number): Promise<void> {
    await this.write(async (c) => {
      await run(c, Q.insertCollection, collectionRow(collection));
      await this.append(c, audit, at);
    });
  }

  async getCollection(id: string): Promise<CollectionRecord | undefined> {
    const row = (await run(this.pool, Q.collectionById, { id })).rows[0];
    return row && this.toCollection(this.pool, row);
  }

  async listCollections(query: { status?: CollectionStatus; limit: number; before?: number }) {
    const { rows } = await run(this.pool, Q.listCollections, {
      status: query.status ?? null,
      before: query.before ?? null,
      limit: query.limit,
    });
    const out: { record: CollectionRecord; cursor: number }[] = [];
    for (const row of rows)
      out.push({ record: await this.toCollection(this.pool, row), cursor: num(row.seq) });
    return out;
  }

  async listCollectionsByStatus(status: CollectionStatus, limit: number): Promise<CollectionRecord[]> {
    const { rows } = await run(this.pool, Q.listCollectionsByStatus, { status, limit });
    const out: CollectionRecord[] = [];
    for (const row of rows) out.push(await this.toCollection(this.pool, row));
    return out;
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
    return this.write(async (c) => {
      const changed = (
        await run(c, Q.transitionCollection, {
          id: change.id,
          from: change.from,
          to: change.to,
          at: change.at,
          summary: change.set?.summary ? JSON.stringify(change.set.summary) : null,
          deniedBy: change.set?.denial?.by ?? null,
          denialReason: change.set?.denial?.reason ?? null,
        })
      ).rowCount;
      if (changed === 0) return false;
      await this.append(c, audit, change.at);
      return true;
    });
  }

  async addCollectionApproval(
    approval: NewApproval & { readonly collectionId: string },
    audit: (outcome: { count: number; approved: boolean }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write(async (c): Promise<ApprovalOutcome> => {
      const { collectionId, at } = approval;
      const required = approval.required ?? 0;
      const row = (await run(c, Q.collectionByIdForUpdate, { id: collectionId })).rows[0];
      if (!row) return { kind: "not-found" };
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as never };
      const inserted = (
        await run(c, Q.insertCollectionApproval, {
          collectionId,
          subject: approval.subject,
          at,
          note: approval.note ?? null,
        })
      ).rowCount;
      if (inserted === 0) return { kind: "duplicate" };
      await run(c, Q.raiseCollectionApprovals, { id: collectionId, required });
      const recorded = (await this.approvalsOf(c, collectionId)).length;
      const count = recorded - (approval.discount ?? 0);
      let approved = false;
      if (count >= Math.max(num(row.approvals_required), required)) {
        approved = (await run(c, Q.approveCollection, { id: collectionId, at })).rowCount === 1;
      } else {
        await run(c, Q.touchCollection, { id: collectionId, at });
      }
      await this.append(c, audit({ count, approved }), at);
      return { kind: "added", count, approved };
    });
  }

  async applyRequestBatch(items: readonly RequestBatchItem[], at: number): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.write(async (c) => {
      const applied: boolean[] = [];
      const audit: AuditEntry[] = [];
      for (const item of items) {
        const ok =
          item.kind === "create"
            ? await insertChild(c, item.collectionId, item.request, item.approvals, item.set)
            : (await run(c, Q.transitionRequest, transitionRow({ ...item.change, at }))).rowCount === 1;
        applied.push(ok);
        if (ok) audit.push(...item.audit);
      }
      await this.append(c, audit, at);
      return applied;
    });
  }

  async listCollectionRequests(collectionId: string): Promise<CollectionRequestLink[]> {
    return (await run(this.pool, Q.listCollectionRequests, { collectionId })).rows.map((r) => ({
      target: String(r.target),
      requestId: String(r.request_id),
    }));
  }

  async claimTriggerFiring(
    key: string,
    at: number,
    cooldownMs: number,
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(async (c) => {
      if ((await run(c, Q.claimTriggerFiring, { key, at, cooldownMs })).rowCount === 0) return false;
      await this.append(c, audit, at);
      return true;
    });
  }

  private async approvalsOf(on: pg.Pool | Client, collectionId: string): Promise<ApprovalRecord[]> {
    return toApprovals((await run(on, Q.collectionApprovalsOf, { collectionId })).rows);
  }

  private async toCollection(on: pg.Pool | Client, row: Row): Promise<CollectionRecord> {
    return toCollection(row, await this.approvalsOf(on, String(row.id)));
  }
}

async function insertChild(
  c: Client,
  collectionId: string,
  request: NewRequest,
  approvals: readonly ApprovalRecord[],
  set: TransitionFields | undefined,
): Promise<boolean> {
  await run(c, Q.insertRequest, requestRow(request, set));
  for (const a of approvals) {
    await run(c, Q.insertApprovalCopy, { requestId: request.id, ...a, note: a.note ?? null });
  }
  await run(c, Q.linkCollectionRequest, { collectionId, target: request.target, requestId: request.id });
  return true;
}
