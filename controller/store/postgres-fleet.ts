/**
 * The fleet's part of the PostgreSQL store, the twin of sqlite-fleet.ts. It runs inside the
 * PostgresStore's transactions and appends to its chain through the functions the store hands it;
 * as there, row locks come first and the chain's lock last, so writers cannot deadlock.
 */
import type pg from "pg";
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
import { PG_PARAMS, type Row, requestInsert, str } from "./rows.js";
import type { ApprovalOutcome, ApprovalRecord, NewRequest, TransitionFields } from "./types.js";

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
      await c.query(
        `INSERT INTO enroll_tokens (id, environment, secret_hash, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [token.id, token.environment, token.secretHash, token.createdBy, token.createdAt, token.expiresAt],
      );
      await this.append(c, [audit], at);
    });
  }

  async getEnrollToken(id: string): Promise<EnrollTokenRecord | undefined> {
    const row = (await this.pool.query("SELECT * FROM enroll_tokens WHERE id = $1", [id])).rows[0] as
      | Row
      | undefined;
    return row && toEnrollToken(row);
  }

  async listEnrollTokens(): Promise<EnrollTokenRecord[]> {
    const rows = (await this.pool.query("SELECT * FROM enroll_tokens ORDER BY created_at, id")).rows as Row[];
    return rows.map(toEnrollToken);
  }

  async revokeEnrollToken(id: string, at: number, audit: AuditEntry) {
    return this.write(async (c) => {
      const changed = (
        await c.query("UPDATE enroll_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [
          at,
          id,
        ])
      ).rowCount;
      const row = (await c.query("SELECT * FROM enroll_tokens WHERE id = $1", [id])).rows[0] as
        | Row
        | undefined;
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
      await c.query(
        `INSERT INTO enrolled_agents (id, environment, url, labels, actions, enroll_token_id, session_hash,
           enrolled_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET environment = excluded.environment, url = excluded.url,
           labels = excluded.labels, actions = excluded.actions, enroll_token_id = excluded.enroll_token_id,
           session_hash = excluded.session_hash, enrolled_at = excluded.enrolled_at,
           last_seen_at = excluded.last_seen_at`,
        [
          agent.id,
          agent.environment,
          agent.url,
          JSON.stringify(agent.labels),
          JSON.stringify(agent.actions),
          agent.enrollTokenId,
          agent.sessionHash,
          agent.enrolledAt,
          agent.lastSeenAt,
        ],
      );
      await this.append(c, audit, at);
    });
  }

  async getEnrolledAgent(id: string): Promise<EnrolledAgentRecord | undefined> {
    const row = (await this.pool.query("SELECT * FROM enrolled_agents WHERE id = $1", [id])).rows[0] as
      | Row
      | undefined;
    return row && toEnrolledAgent(row);
  }

  async listEnrolledAgents(): Promise<EnrolledAgentRecord[]> {
    const rows = (await this.pool.query("SELECT * FROM enrolled_agents ORDER BY id")).rows as Row[];
    return rows.map(toEnrolledAgent);
  }

  async recordHeartbeats(seen: readonly { id: string; at: number }[]): Promise<void> {
    if (seen.length === 0) return;
    // One statement, no audit: ids and times as two arrays.
    await this.pool.query(
      `UPDATE enrolled_agents a SET last_seen_at = GREATEST(a.last_seen_at, s.at)
       FROM unnest($1::text[], $2::bigint[]) AS s(id, at) WHERE a.id = s.id`,
      [seen.map((s) => s.id), seen.map((s) => s.at)],
    );
  }

  async createCollection(collection: NewCollection, audit: readonly AuditEntry[], at: number): Promise<void> {
    await this.write(async (c) => {
      await c.query(
        `INSERT INTO collections (id, status, subject, action, selector, environment, params, reason, ticket,
           output_mode, targets, targets_digest, max_concurrency, max_errors, error_budget, approvals_required,
           created_at, updated_at, expires_at, trigger)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19)`,
        [
          collection.id,
          collection.status,
          collection.subject,
          collection.action,
          collection.selector,
          collection.environment,
          JSON.stringify(collection.params),
          collection.reason,
          collection.ticket ?? null,
          collection.output,
          JSON.stringify(collection.targets),
          collection.targetsDigest,
          collection.maxConcurrency,
          collection.maxErrors ? JSON.stringify(collection.maxErrors) : null,
          collection.errorBudget,
          collection.approvalsRequired,
          collection.createdAt,
          collection.expiresAt,
          collection.trigger ? JSON.stringify(collection.trigger) : null,
        ],
      );
      await this.append(c, audit, at);
    });
  }

  async getCollection(id: string): Promise<CollectionRecord | undefined> {
    const row = (await this.pool.query("SELECT * FROM collections WHERE id = $1", [id])).rows[0] as
      | Row
      | undefined;
    return row && this.toCollection(this.pool, row);
  }

  async listCollections(query: { status?: CollectionStatus; limit: number; before?: number }) {
    const rows = (
      await this.pool.query(
        `SELECT * FROM collections WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3`,
        [query.status ?? null, query.before ?? null, query.limit],
      )
    ).rows as Row[];
    const out: { record: CollectionRecord; cursor: number }[] = [];
    for (const row of rows)
      out.push({ record: await this.toCollection(this.pool, row), cursor: Number(row.seq) });
    return out;
  }

  async listCollectionsByStatus(status: CollectionStatus, limit: number): Promise<CollectionRecord[]> {
    const rows = (
      await this.pool.query("SELECT * FROM collections WHERE status = $1 ORDER BY seq LIMIT $2", [
        status,
        limit,
      ])
    ).rows as Row[];
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
        await c.query(
          `UPDATE collections SET status = $3, updated_at = $4, summary = COALESCE($5, summary),
             denied_by = COALESCE($6, denied_by), denial_reason = COALESCE($7, denial_reason)
           WHERE id = $1 AND status = $2`,
          [
            change.id,
            change.from,
            change.to,
            change.at,
            change.set?.summary ? JSON.stringify(change.set.summary) : null,
            change.set?.denial?.by ?? null,
            change.set?.denial?.reason ?? null,
          ],
        )
      ).rowCount;
      if (changed === 0) return false;
      await this.append(c, audit, change.at);
      return true;
    });
  }

  async addCollectionApproval(
    approval: { collectionId: string; subject: string; note: string | undefined; at: number },
    audit: (outcome: { count: number; approved: boolean }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write(async (c): Promise<ApprovalOutcome> => {
      const row = (
        await c.query("SELECT * FROM collections WHERE id = $1 FOR UPDATE", [approval.collectionId])
      ).rows[0] as Row | undefined;
      if (!row) return { kind: "not-found" };
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as never };
      const inserted = (
        await c.query(
          `INSERT INTO collection_approvals (collection_id, subject, at, note) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING`,
          [approval.collectionId, approval.subject, approval.at, approval.note ?? null],
        )
      ).rowCount;
      if (inserted === 0) return { kind: "duplicate" };
      const count = (await this.approvalsOf(c, approval.collectionId)).length;
      let approved = false;
      if (count >= Number(row.approvals_required)) {
        approved =
          (
            await c.query(
              "UPDATE collections SET status = 'approved', updated_at = $1 WHERE id = $2 AND status = 'pending'",
              [approval.at, approval.collectionId],
            )
          ).rowCount === 1;
      } else {
        await c.query("UPDATE collections SET updated_at = $1 WHERE id = $2", [
          approval.at,
          approval.collectionId,
        ]);
      }
      await this.append(c, audit({ count, approved }), approval.at);
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
            : await moveRequest(c, item.change.id, item.change.from, item.change.to, at, item.change.set);
        applied.push(ok);
        if (ok) audit.push(...item.audit);
      }
      await this.append(c, audit, at);
      return applied;
    });
  }

  async listCollectionRequests(collectionId: string): Promise<CollectionRequestLink[]> {
    const rows = (
      await this.pool.query(
        "SELECT target, request_id FROM collection_requests WHERE collection_id = $1 ORDER BY seq",
        [collectionId],
      )
    ).rows as Row[];
    return rows.map((r) => ({ target: String(r.target), requestId: String(r.request_id) }));
  }

  async claimTriggerFiring(
    key: string,
    at: number,
    cooldownMs: number,
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(async (c) => {
      const changed = (
        await c.query(
          `INSERT INTO trigger_firings (key, fired_at) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET fired_at = $2 WHERE trigger_firings.fired_at <= $2 - $3`,
          [key, at, cooldownMs],
        )
      ).rowCount;
      if (changed === 0) return false;
      await this.append(c, audit, at);
      return true;
    });
  }

  private async approvalsOf(q: pg.Pool | Client, collectionId: string): Promise<ApprovalRecord[]> {
    const rows = (
      await q.query(
        "SELECT subject, at, note FROM collection_approvals WHERE collection_id = $1 ORDER BY at, subject",
        [collectionId],
      )
    ).rows as Row[];
    return rows.map((r) => ({ subject: String(r.subject), at: Number(r.at), note: str(r.note) }));
  }

  private async toCollection(q: pg.Pool | Client, row: Row): Promise<CollectionRecord> {
    return toCollection(row, await this.approvalsOf(q, String(row.id)));
  }
}

async function insertChild(
  c: Client,
  collectionId: string,
  request: NewRequest,
  approvals: readonly ApprovalRecord[],
  set: TransitionFields | undefined,
): Promise<boolean> {
  const { sql, values } = requestInsert(request, set, PG_PARAMS);
  await c.query(sql, values);
  for (const a of approvals) {
    await c.query("INSERT INTO approvals (request_id, subject, at, note) VALUES ($1, $2, $3, $4)", [
      request.id,
      a.subject,
      a.at,
      a.note ?? null,
    ]);
  }
  await c.query("INSERT INTO collection_requests (collection_id, target, request_id) VALUES ($1, $2, $3)", [
    collectionId,
    request.target,
    request.id,
  ]);
  return true;
}

async function moveRequest(
  c: Client,
  id: string,
  from: string,
  to: string,
  at: number,
  set: TransitionFields | undefined,
): Promise<boolean> {
  const changed = (
    await c.query(
      `UPDATE requests SET status = $3, updated_at = $4,
         jti = COALESCE($5, jti), kid = COALESCE($6, kid), result = COALESCE($7, result),
         error_code = COALESCE($8, error_code), error_message = COALESCE($9, error_message)
       WHERE id = $1 AND status = $2`,
      [
        id,
        from,
        to,
        at,
        set?.jti ?? null,
        set?.kid ?? null,
        set?.result === undefined ? null : JSON.stringify(set.result),
        set?.error?.code ?? null,
        set?.error?.message ?? null,
      ],
    )
  ).rowCount;
  return changed === 1;
}
