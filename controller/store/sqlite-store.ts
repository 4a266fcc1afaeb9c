/**
 * The embedded store: one SQLite file in WAL mode. better-sqlite3 is synchronous, so each write runs
 * as one `BEGIN IMMEDIATE` transaction (the write lock is taken before the audit chain's tail is read,
 * which keeps the chain linear even when the CLI writes to the same file as a running controller).
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { canonicalJson } from "../audit/canonical-json.js";
import { type AuditEntry, type AuditRecord, chainRecord, GENESIS_HASH } from "../audit/chain.js";
import type { AuditCheckpoint } from "../audit/checkpoint.js";
import type { FleetStore } from "./fleet-types.js";
import {
  type Row,
  requestInsert,
  SQLITE_PARAMS,
  str,
  toArtifact,
  toAudit,
  toRequest,
  toReview,
  toToken,
} from "./rows.js";
import { SqliteFleetStore } from "./sqlite-fleet.js";
import { SQLITE_MIGRATIONS } from "./sqlite-schema.js";
import { type PrepareStatement, statementCache } from "./sqlite-statements.js";
import type {
  ApprovalOutcome,
  ApprovalRecord,
  ArtifactRecord,
  BreakGlassOutcome,
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
  const db = new Database(path);
  try {
    if (created) chmodSync(path, 0o600); // token hashes and results live here
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    // FULL: an acknowledged audit record must survive a power cut, not just a process crash.
    db.pragma("synchronous = FULL");
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteStore(db);
}

function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > SQLITE_MIGRATIONS.length) {
    throw new Error(
      `the database is at schema version ${current}, newer than this controller knows (${SQLITE_MIGRATIONS.length}); upgrade keyhole`,
    );
  }
  for (let version = current; version < SQLITE_MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly sql: PrepareStatement;

  constructor(db: Database.Database) {
    this.db = db;
    this.sql = statementCache(db);
  }

  async insertToken(token: TokenRecord, audit: AuditEntry, at: number): Promise<void> {
    this.write(() => {
      this.sql(
        `INSERT INTO tokens (id, subject, groups, secret_hash, created_at, expires_at, revoked_at)
           VALUES (?, ?, ?, ?, ?, ?, NULL)`,
      ).run(
        token.id,
        token.subject,
        JSON.stringify(token.groups),
        token.secretHash,
        token.createdAt,
        token.expiresAt,
      );
      this.append([audit], at);
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.sql("SELECT * FROM tokens WHERE id = ?").get(id) as Row | undefined;
    return row && toToken(row);
  }

  async revokeToken(id: string, at: number, audit: AuditEntry) {
    return this.write(() => {
      const changed = this.sql("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(
        at,
        id,
      ).changes;
      const row = this.sql("SELECT * FROM tokens WHERE id = ?").get(id) as Row | undefined;
      if (!row) return { kind: "not-found" as const };
      if (changed === 0) return { kind: "already-revoked" as const, token: toToken(row) };
      this.append([audit], at);
      return { kind: "revoked" as const, token: toToken(row) };
    });
  }

  async createRequest(request: NewRequest, audit: readonly AuditEntry[], at: number): Promise<void> {
    this.write(() => {
      this.insertRequest(request);
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
    return this.write((): BreakGlassOutcome => {
      const last = this.sql(
        `SELECT MAX(created_at) AS last FROM requests
           WHERE subject = ? AND break_glass = 1 AND created_at >= ?`,
      ).get(request.subject, cooldownSince) as { last: number | null };
      if (last.last !== null) return { kind: "cooldown", lastAt: Number(last.last) };
      this.insertRequest({ ...request, breakGlass: true });
      this.sql(
        `INSERT INTO reviews (id, request_id, subject, action, target, environment, reason, ticket, opened_at)
           VALUES (@id, @requestId, @subject, @action, @target, @environment, @reason, @ticket, @openedAt)`,
      ).run({
        id: review.id,
        requestId: review.requestId,
        subject: review.subject,
        action: review.action,
        target: review.target,
        environment: review.environment,
        reason: review.reason,
        ticket: review.ticket,
        openedAt: review.openedAt,
      });
      this.append(audit, at);
      return { kind: "created" };
    });
  }

  async getReview(id: string): Promise<ReviewRecord | undefined> {
    const row = this.sql("SELECT * FROM reviews WHERE id = ?").get(id) as Row | undefined;
    return row && toReview(row);
  }

  async listReviews(query: {
    status?: "open" | "closed";
    openedBefore?: number;
    limit: number;
    before?: number;
  }) {
    const rows = this.sql(
      `SELECT * FROM reviews
         WHERE (@status IS NULL OR (@status = 'open') = (closed_at IS NULL))
           AND (@openedBefore IS NULL OR opened_at < @openedBefore)
           AND (@before IS NULL OR seq < @before)
         ORDER BY seq DESC LIMIT @limit`,
    ).all({
      status: query.status ?? null,
      openedBefore: query.openedBefore ?? null,
      before: query.before ?? null,
      limit: query.limit,
    }) as Row[];
    return rows.map((row) => ({ record: toReview(row), cursor: Number(row.seq) }));
  }

  async closeReview(
    change: { id: string; by: string; note: string; at: number },
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      const changed = this.sql(
        "UPDATE reviews SET closed_at = ?, closed_by = ?, note = ? WHERE id = ? AND closed_at IS NULL",
      ).run(change.at, change.by, change.note, change.id).changes;
      if (changed === 0) return false;
      this.append(audit, change.at);
      return true;
    });
  }

  async markReviewOverdue(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean> {
    return this.write(() => {
      const changed = this.sql(
        "UPDATE reviews SET overdue_at = ? WHERE id = ? AND overdue_at IS NULL AND closed_at IS NULL",
      ).run(at, id).changes;
      if (changed === 0) return false;
      this.append(audit, at);
      return true;
    });
  }

  private insertRequest(request: NewRequest): void {
    const { sql, values } = requestInsert(request, undefined, SQLITE_PARAMS);
    this.sql(sql).run(...values);
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    const row = this.sql("SELECT * FROM requests WHERE id = ?").get(id) as Row | undefined;
    return row && this.toRequest(row);
  }

  async listRequests(query: { status?: RequestStatus; limit: number; before?: number }) {
    const rows = this.sql(
      `SELECT * FROM requests WHERE (@status IS NULL OR status = @status) AND (@before IS NULL OR seq < @before)
         ORDER BY seq DESC LIMIT @limit`,
    ).all({ status: query.status ?? null, before: query.before ?? null, limit: query.limit }) as Row[];
    return rows.map((row) => ({ record: this.toRequest(row), cursor: Number(row.seq) }));
  }

  async listExpiredPending(now: number, limit: number): Promise<RequestRecord[]> {
    const rows = this.sql(
      "SELECT * FROM requests WHERE status = 'pending' AND expires_at <= ? ORDER BY seq LIMIT ?",
    ).all(now, limit) as Row[];
    return rows.map((row) => this.toRequest(row));
  }

  async listByStatus(status: RequestStatus, limit: number): Promise<RequestRecord[]> {
    const rows = this.sql("SELECT * FROM requests WHERE status = ? ORDER BY seq LIMIT ?").all(
      status,
      limit,
    ) as Row[];
    return rows.map((row) => this.toRequest(row));
  }

  async transitionRequest(
    change: { id: string; from: RequestStatus; to: RequestStatus; at: number; set?: TransitionFields },
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      const set = change.set ?? {};
      const changed = this.sql(
        `UPDATE requests SET status = @to, updated_at = @at,
             jti = COALESCE(@jti, jti), kid = COALESCE(@kid, kid), result = COALESCE(@result, result),
             error_code = COALESCE(@errorCode, error_code), error_message = COALESCE(@errorMessage, error_message),
             denied_by = COALESCE(@deniedBy, denied_by), denial_reason = COALESCE(@denialReason, denial_reason)
           WHERE id = @id AND status = @from`,
      ).run({
        id: change.id,
        from: change.from,
        to: change.to,
        at: change.at,
        jti: set.jti ?? null,
        kid: set.kid ?? null,
        result: set.result === undefined ? null : JSON.stringify(set.result),
        errorCode: set.error?.code ?? null,
        errorMessage: set.error?.message ?? null,
        deniedBy: set.denial?.by ?? null,
        denialReason: set.denial?.reason ?? null,
      }).changes;
      if (changed === 0) return false;
      this.append(audit, change.at);
      return true;
    });
  }

  async addApproval(
    approval: { requestId: string; subject: string; note: string | undefined; at: number },
    audit: (outcome: { count: number; approved: boolean; request: RequestRecord }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write((): ApprovalOutcome => {
      const row = this.sql("SELECT * FROM requests WHERE id = ?").get(approval.requestId) as Row | undefined;
      if (!row) return { kind: "not-found" };
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as RequestStatus };
      const inserted = this.sql(
        "INSERT OR IGNORE INTO approvals (request_id, subject, at, note) VALUES (?, ?, ?, ?)",
      ).run(approval.requestId, approval.subject, approval.at, approval.note ?? null).changes;
      if (inserted === 0) return { kind: "duplicate" };
      const count = this.approvalsOf(approval.requestId).length;
      let approved = false;
      if (count >= Number(row.approvals_required)) {
        approved =
          this.sql(
            "UPDATE requests SET status = 'approved', updated_at = ? WHERE id = ? AND status = 'pending'",
          ).run(approval.at, approval.requestId).changes === 1;
      } else {
        this.sql("UPDATE requests SET updated_at = ? WHERE id = ?").run(approval.at, approval.requestId);
      }
      const request = this.toRequest(
        this.sql("SELECT * FROM requests WHERE id = ?").get(approval.requestId) as Row,
      );
      this.append(audit({ count, approved, request }), approval.at);
      return { kind: "added", count, approved };
    });
  }

  async registerArtifact(artifact: ArtifactRecord, result: unknown, audit: readonly AuditEntry[]) {
    return this.write(() => {
      const moved = this.sql(
        `UPDATE requests SET status = 'completed', updated_at = @at, result = @result, artifact_id = @artifactId
           WHERE id = @id AND status = 'dispatched'`,
      ).run({
        id: artifact.requestId,
        at: artifact.createdAt,
        result: JSON.stringify(result),
        artifactId: artifact.id,
      }).changes;
      if (moved === 0) return false;
      this.sql(
        `INSERT INTO artifacts (id, request_id, subject, environment, agent, action, filename, content_type,
             size, sha256, digest_source, store, location, created_at)
           VALUES (@id, @requestId, @subject, @environment, @agent, @action, @filename, @contentType,
             @size, @sha256, @digestSource, @store, @location, @createdAt)`,
      ).run({ ...artifact, deletedAt: undefined });
      this.append(audit, artifact.createdAt);
      return true;
    });
  }

  async getArtifact(id: string): Promise<ArtifactRecord | undefined> {
    const row = this.sql("SELECT * FROM artifacts WHERE id = ?").get(id) as Row | undefined;
    return row && toArtifact(row);
  }

  async listArtifacts(query: { limit: number; before?: number }) {
    const rows = this.sql(
      "SELECT * FROM artifacts WHERE (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit",
    ).all({ before: query.before ?? null, limit: query.limit }) as Row[];
    return rows.map((row) => ({ record: toArtifact(row), cursor: Number(row.seq) }));
  }

  async listExpiredArtifacts(environment: string, createdBefore: number, limit: number) {
    const rows = this.sql(
      `SELECT * FROM artifacts WHERE environment = ? AND created_at < ? AND deleted_at IS NULL
         ORDER BY created_at LIMIT ?`,
    ).all(environment, createdBefore, limit) as Row[];
    return rows.map(toArtifact);
  }

  async markArtifactDeleted(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean> {
    return this.write(() => {
      const changed = this.sql("UPDATE artifacts SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").run(
        at,
        id,
      ).changes;
      if (changed === 0) return false;
      this.append(audit, at);
      return true;
    });
  }

  async appendAudit(audit: readonly AuditEntry[], at: number): Promise<AuditRecord[]> {
    return this.write(() => this.append(audit, at));
  }

  async listAudit(query: { afterSeq?: number; limit?: number } = {}): Promise<AuditRecord[]> {
    const rows = this.sql("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?").all(
      query.afterSeq ?? 0,
      query.limit ?? -1,
    ) as Row[];
    return rows.map(toAudit);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const row = this.sql("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").get() as Row | undefined;
    return row && { seq: Number(row.seq), hash: String(row.hash) };
  }

  async appendCheckpoint(checkpoint: AuditCheckpoint): Promise<void> {
    this.sql(
      `INSERT OR IGNORE INTO audit_checkpoints (seq, hash, time, kid, signature)
         VALUES (@seq, @hash, @time, @kid, @signature)`,
    ).run(checkpoint);
  }

  async listCheckpoints(query: { afterSeq?: number } = {}): Promise<AuditCheckpoint[]> {
    const rows = this.sql("SELECT * FROM audit_checkpoints WHERE seq > ? ORDER BY seq").all(
      query.afterSeq ?? -1,
    ) as Row[];
    return rows.map((r) => ({
      seq: Number(r.seq),
      hash: String(r.hash),
      time: String(r.time),
      kid: String(r.kid),
      signature: String(r.signature),
    }));
  }

  private fleetStore: SqliteFleetStore | undefined;
  /** The fleet's tables (sqlite-fleet.ts), written in this store's transactions and audit chain. */
  get fleet(): FleetStore {
    this.fleetStore ??= new SqliteFleetStore(
      this.sql,
      (fn) => this.write(fn),
      (entries, at) => this.append(entries, at),
    );
    return this.fleetStore;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction. */
  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Appends to the chain; must run inside `write`, so the tail cannot move underneath. */
  private append(entries: readonly AuditEntry[], at: number): AuditRecord[] {
    const insert = this.sql(
      `INSERT INTO audit (seq, time, actor, event, request_id, details, reason, ticket, prev_hash, hash)
       VALUES (@seq, @time, @actor, @event, @requestId, @details, @reason, @ticket, @prevHash, @hash)`,
    );
    const tail = this.sql("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").get() as
      | { seq: number; hash: string }
      | undefined;
    let seq = tail?.seq ?? 0;
    let prevHash = tail?.hash ?? GENESIS_HASH;
    const records: AuditRecord[] = [];
    for (const entry of entries) {
      const record = chainRecord(entry, ++seq, at, prevHash);
      insert.run({ ...record, details: canonicalJson(record.details) });
      records.push(record);
      prevHash = record.hash;
    }
    return records;
  }

  private approvalsOf(requestId: string): ApprovalRecord[] {
    const rows = this.sql(
      "SELECT subject, at, note FROM approvals WHERE request_id = ? ORDER BY at, subject",
    ).all(requestId) as Row[];
    return rows.map((r) => ({ subject: String(r.subject), at: Number(r.at), note: str(r.note) }));
  }

  private toRequest(row: Row): RequestRecord {
    return toRequest(row, this.approvalsOf(String(row.id)));
  }
}
