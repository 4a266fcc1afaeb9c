/**
 * The embedded store: one SQLite file in WAL mode, through Node's built-in node:sqlite (sqlite-db.ts).
 * It is synchronous, so each write runs as one `BEGIN IMMEDIATE` transaction (the write lock is taken
 * before the audit chain's tail is read, which keeps the chain linear even when the CLI writes to the
 * same file as a running controller). Its queries are the ones the PostgreSQL store runs too
 * (queries.ts).
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { canonicalJson } from "../audit/canonical-json.js";
import { type AuditEntry, type AuditRecord, chainRecord, GENESIS_HASH } from "../audit/chain.js";
import type { AuditCheckpoint } from "../audit/checkpoint.js";
import type { FleetStore } from "./fleet-types.js";
import * as Q from "./queries.js";
import {
  approvalsByRequest,
  artifactRow,
  collectionPattern,
  credentialPattern,
  num,
  type Row,
  requestRow,
  toApprovals,
  toArtifact,
  toAudit,
  toCheckpoint,
  toLinkedAudit,
  toRequest,
  toReview,
  toToken,
  transitionRow,
} from "./rows.js";
import { NO_LIMIT } from "./sql.js";
import { SqliteDb } from "./sqlite-db.js";
import { SqliteFleetStore } from "./sqlite-fleet.js";
import { SQLITE_MIGRATIONS } from "./sqlite-schema.js";
import type {
  ApprovalOutcome,
  ArtifactRecord,
  BreakGlassOutcome,
  LinkedAuditRecord,
  NewApproval,
  NewRequest,
  RequestRecord,
  RequestStatus,
  ReviewRecord,
  Store,
  TokenRecord,
  TransitionFields,
} from "./types.js";

/** Opens (creating if needed) the SQLite store at `path` and brings its schema up to date. */
export function openSqliteStore(path: string): SqliteStore {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const created = !existsSync(path);
  const db = new SqliteDb(path);
  try {
    if (created) chmodSync(path, 0o600); // token hashes and results live here
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA foreign_keys = ON");
    // FULL: an acknowledged audit record must survive a power cut, not just a process crash.
    db.exec("PRAGMA synchronous = FULL");
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteStore(db);
}

function migrate(db: SqliteDb): void {
  const current = Number(db.pragma("user_version"));
  if (current > SQLITE_MIGRATIONS.length) {
    throw new Error(
      `the database is at schema version ${current}, newer than this controller knows (${SQLITE_MIGRATIONS.length}); upgrade keyhole`,
    );
  }
  for (let version = current; version < SQLITE_MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[version]!);
      db.exec(`PRAGMA user_version = ${version + 1}`);
    });
  }
}

export class SqliteStore implements Store {
  readonly db: SqliteDb;

  constructor(db: SqliteDb) {
    this.db = db;
  }

  async insertToken(token: TokenRecord, audit: AuditEntry, at: number): Promise<void> {
    this.write(() => {
      this.db.run(Q.insertToken, { ...token, groups: JSON.stringify(token.groups) });
      this.append([audit], at);
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.db.get(Q.tokenById, { id });
    return row && toToken(row);
  }

  async revokeToken(id: string, at: number, audit: AuditEntry) {
    return this.write(() => {
      const changed = this.db.run(Q.revokeToken, { id, at });
      const row = this.db.get(Q.tokenById, { id });
      if (!row) return { kind: "not-found" as const };
      if (changed === 0) return { kind: "already-revoked" as const, token: toToken(row) };
      this.append([audit], at);
      return { kind: "revoked" as const, token: toToken(row) };
    });
  }

  async createRequest(request: NewRequest, audit: readonly AuditEntry[], at: number): Promise<void> {
    this.write(() => {
      this.db.run(Q.insertRequest, requestRow(request));
      this.append(audit, at);
    });
  }

  async createBreakGlassRequest(
    request: NewRequest,
    review: ReviewRecord,
    audit: readonly AuditEntry[],
    at: number,
    cooldownSince: number,
  ): Promise<BreakGlassOutcome> {
    // BEGIN IMMEDIATE holds the database's one write lock: the cooldown check and the insert cannot
    // interleave with another writer's (PostgreSQL takes a per-subject lock for the same).
    return this.write((): BreakGlassOutcome => {
      const last = this.db.get(Q.lastBreakGlass, { subject: request.subject, since: cooldownSince })?.last;
      if (last !== null && last !== undefined) return { kind: "cooldown", lastAt: num(last) };
      this.db.run(Q.insertRequest, requestRow({ ...request, breakGlass: true }));
      this.db.run(Q.insertReview, review);
      this.append(audit, at);
      return { kind: "created" };
    });
  }

  async getReview(id: string): Promise<ReviewRecord | undefined> {
    const row = this.db.get(Q.reviewById, { id });
    return row && toReview(row);
  }

  async listReviews(query: {
    status?: "open" | "closed";
    openedBefore?: number;
    limit: number;
    before?: number;
  }) {
    const rows = this.db.all(Q.listReviews, {
      status: query.status ?? null,
      openedBefore: query.openedBefore ?? null,
      before: query.before ?? null,
      limit: query.limit,
    });
    return rows.map((row) => ({ record: toReview(row), cursor: num(row.seq) }));
  }

  async closeReview(
    change: { id: string; by: string; note: string; at: number },
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      if (this.db.run(Q.closeReview, change) === 0) return false;
      this.append(audit, change.at);
      return true;
    });
  }

  async markReviewOverdue(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean> {
    return this.write(() => {
      if (this.db.run(Q.markReviewOverdue, { id, at }) === 0) return false;
      this.append(audit, at);
      return true;
    });
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    return this.requestOf(id);
  }

  async listRequests(query: { status?: RequestStatus; limit: number; before?: number }) {
    const rows = this.db.all(Q.listRequests, {
      status: query.status ?? null,
      before: query.before ?? null,
      limit: query.limit,
    });
    return this.toRequests(rows).map((record, i) => ({ record, cursor: num(rows[i]!.seq) }));
  }

  async listExpiredPending(now: number, limit: number): Promise<RequestRecord[]> {
    return this.toRequests(this.db.all(Q.listExpiredPending, { now, limit }));
  }

  async listByStatus(status: RequestStatus, limit: number): Promise<RequestRecord[]> {
    return this.toRequests(this.db.all(Q.listRequestsByStatus, { status, limit }));
  }

  async transitionRequest(
    change: { id: string; from: RequestStatus; to: RequestStatus; at: number; set?: TransitionFields },
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      if (this.db.run(Q.transitionRequest, transitionRow(change)) === 0) return false;
      this.append(audit, change.at);
      return true;
    });
  }

  async addApproval(
    approval: NewApproval & { readonly requestId: string },
    audit: (outcome: { count: number; approved: boolean; request: RequestRecord }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write((): ApprovalOutcome => {
      const { requestId, at } = approval;
      const required = approval.required ?? 0;
      const row = this.db.get(Q.requestByIdForUpdate, { id: requestId });
      if (!row) return { kind: "not-found" };
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as RequestStatus };
      const inserted = this.db.run(Q.insertApproval, {
        requestId,
        subject: approval.subject,
        at,
        note: approval.note ?? null,
      });
      if (inserted === 0) return { kind: "duplicate" };
      this.db.run(Q.raiseRequestApprovals, { id: requestId, required });
      const recorded = num(this.db.get(Q.countApprovals, { requestId })?.n);
      const count = recorded - (approval.discount ?? 0);
      let approved = false;
      if (count >= Math.max(num(row.approvals_required), required)) {
        approved = this.db.run(Q.approveRequest, { id: requestId, at }) === 1;
      } else {
        this.db.run(Q.touchRequest, { id: requestId, at });
      }
      const request = this.requestOf(requestId)!;
      this.append(audit({ count, approved, request }), at);
      return { kind: "added", count, approved };
    });
  }

  async registerArtifact(artifact: ArtifactRecord, result: unknown, audit: readonly AuditEntry[]) {
    return this.write(() => {
      const moved = this.db.run(Q.completeWithArtifact, {
        id: artifact.requestId,
        at: artifact.createdAt,
        result: JSON.stringify(result),
        artifactId: artifact.id,
      });
      if (moved === 0) return false;
      this.db.run(Q.insertArtifact, artifactRow(artifact));
      this.append(audit, artifact.createdAt);
      return true;
    });
  }

  async getArtifact(id: string): Promise<ArtifactRecord | undefined> {
    const row = this.db.get(Q.artifactById, { id });
    return row && toArtifact(row);
  }

  async listArtifacts(query: { limit: number; before?: number }) {
    const rows = this.db.all(Q.listArtifacts, { before: query.before ?? null, limit: query.limit });
    return rows.map((row) => ({ record: toArtifact(row), cursor: num(row.seq) }));
  }

  async listExpiredArtifacts(environment: string, createdBefore: number, limit: number) {
    return this.db.all(Q.listExpiredArtifacts, { environment, createdBefore, limit }).map(toArtifact);
  }

  async markArtifactDeleted(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean> {
    return this.write(() => {
      if (this.db.run(Q.markArtifactDeleted, { id, at }) === 0) return false;
      this.append(audit, at);
      return true;
    });
  }

  async appendAudit(audit: readonly AuditEntry[], at: number): Promise<AuditRecord[]> {
    return this.write(() => this.append(audit, at));
  }

  async listRequestAudit(requestId: string): Promise<LinkedAuditRecord[]> {
    return this.db.all(Q.listRequestAudit, { requestId }).map(toLinkedAudit);
  }

  async listCollectionAudit(collectionId: string): Promise<LinkedAuditRecord[]> {
    return this.db
      .all(Q.listCollectionAudit, { pattern: collectionPattern(collectionId) })
      .map(toLinkedAudit);
  }

  async listCredentialAudit(id: string): Promise<LinkedAuditRecord[]> {
    return this.db.all(Q.listCredentialAudit, { pattern: credentialPattern(id) }).map(toLinkedAudit);
  }

  async listAudit(query: { afterSeq?: number; limit?: number } = {}): Promise<AuditRecord[]> {
    return this.db
      .all(Q.listAudit, { afterSeq: query.afterSeq ?? 0, limit: query.limit ?? NO_LIMIT })
      .map(toAudit);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const row = this.db.get(Q.auditTail, {});
    return row && { seq: num(row.seq), hash: String(row.hash) };
  }

  async appendCheckpoint(checkpoint: AuditCheckpoint): Promise<void> {
    this.db.run(Q.insertCheckpoint, checkpoint);
  }

  async listCheckpoints(query: { afterSeq?: number } = {}): Promise<AuditCheckpoint[]> {
    return this.db.all(Q.listCheckpoints, { afterSeq: query.afterSeq ?? -1 }).map(toCheckpoint);
  }

  private fleetStore: SqliteFleetStore | undefined;
  /** The fleet's tables (sqlite-fleet.ts), written in this store's transactions and audit chain. */
  get fleet(): FleetStore {
    this.fleetStore ??= new SqliteFleetStore(
      this.db,
      (fn) => this.write(fn),
      (entries, at) => this.append(entries, at),
    );
    return this.fleetStore;
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction. */
  private write<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  /** Appends to the chain; must run inside `write`, so the tail cannot move underneath. */
  private append(entries: readonly AuditEntry[], at: number): AuditRecord[] {
    const tail = this.db.get(Q.auditTail, {});
    let seq = tail ? num(tail.seq) : 0;
    let prevHash = tail ? String(tail.hash) : GENESIS_HASH;
    const records: AuditRecord[] = [];
    for (const entry of entries) {
      const record = chainRecord(entry, ++seq, at, prevHash);
      this.db.run(Q.insertAudit, { ...record, details: canonicalJson(record.details) });
      records.push(record);
      prevHash = record.hash;
    }
    return records;
  }

  private requestOf(id: string): RequestRecord | undefined {
    const row = this.db.get(Q.requestById, { id });
    return row && toRequest(row, toApprovals(this.db.all(Q.approvalsOf, { requestId: id })));
  }

  /** Rows to records, with every row's approvals read in one query. */
  private toRequests(rows: readonly Row[]): RequestRecord[] {
    if (rows.length === 0) return [];
    const approvals = approvalsByRequest(
      rows,
      this.db.all(Q.approvalsOfMany, { requestIds: JSON.stringify(rows.map((r) => String(r.id))) }),
    );
    return rows.map((row) => toRequest(row, approvals.get(String(row.id)) ?? []));
  }
}
