/**
 * The fleet's part of the SQLite store. It runs inside the SqliteStore's own transactions and appends
 * to its audit chain through the functions the store hands it, so nothing here can write a state
 * change without its records.
 */
import type { AuditEntry, AuditRecord } from "../audit/chain.js";
import { toCollection, toEnrolledAgent, toEnrollToken } from "./fleet-rows.js";
import type {
  CollectionRecord,
  CollectionRequestLink,
  CollectionStatus,
  CollectionSummary,
  EnrolledAgentRecord,
  EnrollTokenRecord,
  FleetStore,
  NewCollection,
  RequestBatchItem,
} from "./fleet-types.js";
import { type Row, requestInsert, SQLITE_PARAMS, str } from "./rows.js";
import type { PrepareStatement } from "./sqlite-statements.js";
import type { ApprovalOutcome, ApprovalRecord, NewRequest, TransitionFields } from "./types.js";

export class SqliteFleetStore implements FleetStore {
  constructor(
    private readonly sql: PrepareStatement,
    private readonly write: <T>(fn: () => T) => T,
    private readonly append: (entries: readonly AuditEntry[], at: number) => AuditRecord[],
  ) {}

  async insertEnrollToken(token: EnrollTokenRecord, audit: AuditEntry, at: number): Promise<void> {
    this.write(() => {
      this.sql(
        `INSERT INTO enroll_tokens (id, environment, secret_hash, created_by, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(token.id, token.environment, token.secretHash, token.createdBy, token.createdAt, token.expiresAt);
      this.append([audit], at);
    });
  }

  async getEnrollToken(id: string): Promise<EnrollTokenRecord | undefined> {
    const row = this.sql("SELECT * FROM enroll_tokens WHERE id = ?").get(id) as Row | undefined;
    return row && toEnrollToken(row);
  }

  async listEnrollTokens(): Promise<EnrollTokenRecord[]> {
    return (this.sql("SELECT * FROM enroll_tokens ORDER BY created_at, id").all() as Row[]).map(
      toEnrollToken,
    );
  }

  async revokeEnrollToken(id: string, at: number, audit: AuditEntry) {
    return this.write(() => {
      const changed = this.sql(
        "UPDATE enroll_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
      ).run(at, id).changes;
      const row = this.sql("SELECT * FROM enroll_tokens WHERE id = ?").get(id) as Row | undefined;
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
      this.sql(
        `INSERT INTO enrolled_agents (id, environment, url, labels, actions, enroll_token_id, session_hash,
             enrolled_at, last_seen_at)
           VALUES (@id, @environment, @url, @labels, @actions, @enrollTokenId, @sessionHash, @enrolledAt, @lastSeenAt)
           ON CONFLICT (id) DO UPDATE SET environment = excluded.environment, url = excluded.url,
             labels = excluded.labels, actions = excluded.actions, enroll_token_id = excluded.enroll_token_id,
             session_hash = excluded.session_hash, enrolled_at = excluded.enrolled_at,
             last_seen_at = excluded.last_seen_at`,
      ).run({ ...agent, labels: JSON.stringify(agent.labels), actions: JSON.stringify(agent.actions) });
      this.append(audit, at);
    });
  }

  async getEnrolledAgent(id: string): Promise<EnrolledAgentRecord | undefined> {
    const row = this.sql("SELECT * FROM enrolled_agents WHERE id = ?").get(id) as Row | undefined;
    return row && toEnrolledAgent(row);
  }

  async listEnrolledAgents(): Promise<EnrolledAgentRecord[]> {
    return (this.sql("SELECT * FROM enrolled_agents ORDER BY id").all() as Row[]).map(toEnrolledAgent);
  }

  async recordHeartbeats(seen: readonly { id: string; at: number }[]): Promise<void> {
    if (seen.length === 0) return;
    this.write(() => {
      const update = this.sql("UPDATE enrolled_agents SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?");
      for (const { id, at } of seen) update.run(at, id);
    });
  }

  async createCollection(collection: NewCollection, audit: readonly AuditEntry[], at: number): Promise<void> {
    this.write(() => {
      this.sql(
        `INSERT INTO collections (id, status, subject, action, selector, environment, params, reason, ticket,
             output_mode, targets, targets_digest, max_concurrency, max_errors, error_budget, approvals_required,
             created_at, updated_at, expires_at, trigger)
           VALUES (@id, @status, @subject, @action, @selector, @environment, @params, @reason, @ticket,
             @output, @targets, @targetsDigest, @maxConcurrency, @maxErrors, @errorBudget, @approvalsRequired,
             @createdAt, @createdAt, @expiresAt, @trigger)`,
      ).run({
        ...collection,
        params: JSON.stringify(collection.params),
        ticket: collection.ticket ?? null,
        targets: JSON.stringify(collection.targets),
        maxErrors: collection.maxErrors ? JSON.stringify(collection.maxErrors) : null,
        trigger: collection.trigger ? JSON.stringify(collection.trigger) : null,
      });
      this.append(audit, at);
    });
  }

  async getCollection(id: string): Promise<CollectionRecord | undefined> {
    const row = this.sql("SELECT * FROM collections WHERE id = ?").get(id) as Row | undefined;
    return row && this.toCollection(row);
  }

  async listCollections(query: { status?: CollectionStatus; limit: number; before?: number }) {
    const rows = this.sql(
      `SELECT * FROM collections WHERE (@status IS NULL OR status = @status) AND (@before IS NULL OR seq < @before)
         ORDER BY seq DESC LIMIT @limit`,
    ).all({ status: query.status ?? null, before: query.before ?? null, limit: query.limit }) as Row[];
    return rows.map((row) => ({ record: this.toCollection(row), cursor: Number(row.seq) }));
  }

  async listCollectionsByStatus(status: CollectionStatus, limit: number): Promise<CollectionRecord[]> {
    const rows = this.sql("SELECT * FROM collections WHERE status = ? ORDER BY seq LIMIT ?").all(
      status,
      limit,
    ) as Row[];
    return rows.map((row) => this.toCollection(row));
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
      const changed = this.sql(
        `UPDATE collections SET status = @to, updated_at = @at, summary = COALESCE(@summary, summary),
             denied_by = COALESCE(@deniedBy, denied_by), denial_reason = COALESCE(@denialReason, denial_reason)
           WHERE id = @id AND status = @from`,
      ).run({
        id: change.id,
        from: change.from,
        to: change.to,
        at: change.at,
        summary: change.set?.summary ? JSON.stringify(change.set.summary) : null,
        deniedBy: change.set?.denial?.by ?? null,
        denialReason: change.set?.denial?.reason ?? null,
      }).changes;
      if (changed === 0) return false;
      this.append(audit, change.at);
      return true;
    });
  }

  async addCollectionApproval(
    approval: { collectionId: string; subject: string; note: string | undefined; at: number },
    audit: (outcome: { count: number; approved: boolean }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write((): ApprovalOutcome => {
      const row = this.sql("SELECT * FROM collections WHERE id = ?").get(approval.collectionId) as
        | Row
        | undefined;
      if (!row) return { kind: "not-found" };
      // The request statuses' type is shared with ApprovalOutcome; a collection's pending is the same word.
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as never };
      const inserted = this.sql(
        "INSERT OR IGNORE INTO collection_approvals (collection_id, subject, at, note) VALUES (?, ?, ?, ?)",
      ).run(approval.collectionId, approval.subject, approval.at, approval.note ?? null).changes;
      if (inserted === 0) return { kind: "duplicate" };
      const count = this.approvalsOf(approval.collectionId).length;
      let approved = false;
      if (count >= Number(row.approvals_required)) {
        approved =
          this.sql(
            "UPDATE collections SET status = 'approved', updated_at = ? WHERE id = ? AND status = 'pending'",
          ).run(approval.at, approval.collectionId).changes === 1;
      } else {
        this.sql("UPDATE collections SET updated_at = ? WHERE id = ?").run(
          approval.at,
          approval.collectionId,
        );
      }
      this.append(audit({ count, approved }), approval.at);
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
            : this.moveRequest(item.change.id, item.change.from, item.change.to, at, item.change.set);
        applied.push(ok);
        if (ok) audit.push(...item.audit);
      }
      this.append(audit, at);
      return applied;
    });
  }

  async listCollectionRequests(collectionId: string): Promise<CollectionRequestLink[]> {
    const rows = this.sql(
      "SELECT target, request_id FROM collection_requests WHERE collection_id = ? ORDER BY seq",
    ).all(collectionId) as Row[];
    return rows.map((r) => ({ target: String(r.target), requestId: String(r.request_id) }));
  }

  async claimTriggerFiring(
    key: string,
    at: number,
    cooldownMs: number,
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(() => {
      const changed = this.sql(
        `INSERT INTO trigger_firings (key, fired_at) VALUES (@key, @at)
           ON CONFLICT (key) DO UPDATE SET fired_at = @at WHERE fired_at <= @at - @cooldownMs`,
      ).run({ key, at, cooldownMs }).changes;
      if (changed === 0) return false;
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
    const { sql, values } = requestInsert(request, set, SQLITE_PARAMS);
    this.sql(sql).run(...values);
    const approve = this.sql("INSERT INTO approvals (request_id, subject, at, note) VALUES (?, ?, ?, ?)");
    for (const a of approvals) approve.run(request.id, a.subject, a.at, a.note ?? null);
    this.sql("INSERT INTO collection_requests (collection_id, target, request_id) VALUES (?, ?, ?)").run(
      collectionId,
      request.target,
      request.id,
    );
    return true;
  }

  private moveRequest(
    id: string,
    from: string,
    to: string,
    at: number,
    set: TransitionFields | undefined,
  ): boolean {
    return (
      this.sql(
        `UPDATE requests SET status = @to, updated_at = @at,
             jti = COALESCE(@jti, jti), kid = COALESCE(@kid, kid), result = COALESCE(@result, result),
             error_code = COALESCE(@errorCode, error_code), error_message = COALESCE(@errorMessage, error_message)
           WHERE id = @id AND status = @from`,
      ).run({
        id,
        from,
        to,
        at,
        jti: set?.jti ?? null,
        kid: set?.kid ?? null,
        result: set?.result === undefined ? null : JSON.stringify(set.result),
        errorCode: set?.error?.code ?? null,
        errorMessage: set?.error?.message ?? null,
      }).changes === 1
    );
  }

  private approvalsOf(collectionId: string): ApprovalRecord[] {
    const rows = this.sql(
      "SELECT subject, at, note FROM collection_approvals WHERE collection_id = ? ORDER BY at, subject",
    ).all(collectionId) as Row[];
    return rows.map((r) => ({ subject: String(r.subject), at: Number(r.at), note: str(r.note) }));
  }

  private toCollection(row: Row): CollectionRecord {
    return toCollection(row, this.approvalsOf(String(row.id)));
  }
}
