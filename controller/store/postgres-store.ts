/**
 * The store for several controller replicas: PostgreSQL through a `pg` pool, with the behaviour of
 * the SQLite store (sqlite-store.ts). Each write is one READ COMMITTED transaction:
 *
 * - request transitions are compare-and-set (`UPDATE … WHERE id = $1 AND status = $2`), so when two
 *   controllers race, PostgreSQL's row lock lets one move the request and the other sees 0 rows;
 * - an approval locks its request row first (`SELECT … FOR UPDATE`), so concurrent approvers are
 *   counted one after the other and exactly one of them approves;
 * - every append to the audit chain locks the one row of `audit_append_lock` first and only then reads
 *   the tail, inside the transaction of the state change, so the chain stays one line however many
 *   controllers write. The lock is taken last (after the state change's row locks) in every
 *   transaction, so lock order is always request row → chain and no two writers can deadlock.
 *
 * Schema creation at start-up runs under a transaction-scoped advisory lock, so controllers starting
 * together migrate once, one after the other. Its queries are the ones the SQLite store runs too
 * (queries.ts); the locks above are its own.
 */
import pg from "pg";
import { canonicalJson } from "../audit/canonical-json.js";
import { type AuditEntry, type AuditRecord, chainRecord, GENESIS_HASH } from "../audit/chain.js";
import type { AuditCheckpoint } from "../audit/checkpoint.js";
import type { FleetStore } from "./fleet-types.js";
import { PostgresFleetStore } from "./postgres-fleet.js";
import { POSTGRES_MIGRATIONS } from "./postgres-schema.js";
import * as Q from "./queries.js";
import {
  approvalsByRequest,
  artifactRow,
  collectionPattern,
  credentialPattern,
  num,
  type Row,
  requestRow,
  toArtifact,
  toAudit,
  toCheckpoint,
  toLinkedAudit,
  toRequest,
  toReview,
  toToken,
  transitionRow,
} from "./rows.js";
import { argsOf, NO_LIMIT, type Query, rowsOf } from "./sql.js";
import type {
  ApprovalOutcome,
  ArtifactRecord,
  BreakGlassOutcome,
  LinkedAuditRecord,
  NewApproval,
  NewRequest,
  RateCounter,
  RequestRecord,
  RequestStatus,
  ReviewRecord,
  Store,
  TokenRecord,
  TransitionFields,
} from "./types.js";

type Client = pg.PoolClient;

/** Runs one shared query (queries.ts) on a pool or on a transaction's connection. */
export function run<P extends object>(
  on: pg.Pool | Client,
  q: Query<P>,
  params: P,
): Promise<pg.QueryResult<Row>> {
  return on.query<Row>(q.postgres.text, argsOf(q.postgres, params));
}

/** How long the server lets one of our sessions sit idle inside a transaction before ending it. */
export const IDLE_IN_TRANSACTION_MS = 30_000;

/** Names the migration lock; any fixed 64-bit number works, this is "keyhole" in ASCII. */
const MIGRATION_LOCK = "30229394625621093";

export interface PostgresStoreOptions {
  /** Largest number of connections this controller opens (default 10). */
  readonly maxConnections?: number;
  /** How long to wait for a connection before failing, in milliseconds (default 10 000). */
  readonly connectTimeoutMs?: number;
  /** The server ends a session idle inside a transaction this long (default IDLE_IN_TRANSACTION_MS). */
  readonly idleInTransactionMs?: number;
}

/**
 * Connects to `url` (`postgres://user:password@host:port/database`, libpq parameters such as
 * `sslmode` and `options=-c search_path=keyhole` allowed) and brings the schema up to date. The
 * tables go into the first schema of the search path, which must exist.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  // A controller cut off mid-transaction would keep its row locks, the audit chain's included, and
  // stall every other replica until TCP gave up (hours). No transaction of ours waits on the client,
  // so the server may end one that does after IDLE_IN_TRANSACTION_MS. Sent as a startup parameter:
  // set before the connection's first query, with no query of its own racing the pool's user.
  const idleMs = Math.max(1, Math.floor(options.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS));
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: "keyhole-controller",
    idle_in_transaction_session_timeout: idleMs,
    // Notice a server that went away without closing the connection (a partition) from this side.
    keepAlive: true,
  });
  // An idle connection that dies (a database restart) is dropped by the pool and its error is emitted
  // here; without a listener it would crash the process. The next query opens a fresh connection,
  // and errors of queries in progress reach their callers.
  pool.on("error", () => {});
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw new Error(`cannot open the PostgreSQL database ${redactUrl(url)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return new PostgresStore(pool);
}

/** The URL without its password (in the authority or as a `password`/`sslpassword` parameter). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    for (const key of [...parsed.searchParams.keys()]) {
      if (/^(ssl)?password$/i.test(key)) parsed.searchParams.set(key, "***");
    }
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/**
 * Runs `fn` in one transaction on one pooled connection: COMMIT when it resolves, else ROLLBACK. A
 * connection that dies meanwhile (a restart, a failover, a dropped network) fails the transaction with
 * that connection's error and is not returned to the pool. If it dies during the COMMIT itself, the
 * server may or may not have committed; the compare-and-set transitions make a retry safe either way.
 */
async function inTransaction<T>(pool: pg.Pool, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // pg reports a dead connection by failing its queries and also by an 'error' event on the client.
  // A checked-out client has no listener of the pool's, and an unheard 'error' ends the process.
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost ??= err;
  };
  client.on("error", onError);
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    if (!lost) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
    }
    // The connection's own error ("Connection terminated unexpectedly") says more than the query's
    // "not queryable", and it is what tells the caller the database is unavailable.
    throw lost ?? err;
  } finally {
    client.removeListener("error", onError);
    client.release(lost ?? broken);
  }
}

async function migrate(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    const schema = (await client.query<{ schema: string | null }>("SELECT current_schema() AS schema"))
      .rows[0]?.schema;
    if (!schema) {
      throw new Error(
        "no schema to create tables in: the search_path names no existing schema (create it, or set options=-c search_path=…)",
      );
    }
    // Held to COMMIT: a second controller starting now waits here, then finds the schema current.
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`);
    // Created only when missing: `CREATE … IF NOT EXISTS` needs CREATE on the schema even when the
    // table exists, and a runtime role that owns nothing has none (docs/operations.md: two roles).
    const known = (await client.query("SELECT to_regclass('keyhole_migrations') IS NOT NULL AS known"))
      .rows[0]?.known;
    if (!known)
      await client.query(
        `CREATE TABLE IF NOT EXISTS keyhole_migrations (
         version INTEGER PRIMARY KEY,
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
       )`,
      );
    const current = num(
      (await client.query("SELECT COALESCE(MAX(version), 0) AS v FROM keyhole_migrations")).rows[0]?.v,
    );
    if (current > POSTGRES_MIGRATIONS.length) {
      throw new Error(
        `the database is at schema version ${current}, newer than this controller knows (${POSTGRES_MIGRATIONS.length}); upgrade keyhole`,
      );
    }
    for (let version = current; version < POSTGRES_MIGRATIONS.length; version++) {
      await client.query(POSTGRES_MIGRATIONS[version]!);
      await client.query("INSERT INTO keyhole_migrations (version) VALUES ($1)", [version + 1]);
    }
  });
}

export class PostgresStore implements Store {
  readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async insertToken(token: TokenRecord, audit: AuditEntry, at: number): Promise<void> {
    await this.write(async (c) => {
      await run(c, Q.insertToken, { ...token, groups: JSON.stringify(token.groups) });
      await this.append(c, [audit], at);
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = (await run(this.pool, Q.tokenById, { id })).rows[0];
    return row && toToken(row);
  }

  async revokeToken(id: string, at: number, audit: AuditEntry) {
    return this.write(async (c) => {
      const changed = (await run(c, Q.revokeToken, { id, at })).rowCount;
      const row = (await run(c, Q.tokenById, { id })).rows[0];
      if (!row) return { kind: "not-found" as const };
      if (changed === 0) return { kind: "already-revoked" as const, token: toToken(row) };
      await this.append(c, [audit], at);
      return { kind: "revoked" as const, token: toToken(row) };
    });
  }

  async createRequest(request: NewRequest, audit: readonly AuditEntry[], at: number): Promise<void> {
    await this.write(async (c) => {
      await run(c, Q.insertRequest, requestRow(request));
      await this.append(c, audit, at);
    });
  }

  async createBreakGlassRequest(
    request: NewRequest,
    review: ReviewRecord,
    audit: readonly AuditEntry[],
    at: number,
    cooldownSince: number,
  ): Promise<BreakGlassOutcome> {
    return this.write(async (c): Promise<BreakGlassOutcome> => {
      // One lock per subject (in this schema): two break-glass requests of one subject, through any
      // controllers, check the cooldown one after the other.
      await c.query(
        "SELECT pg_advisory_xact_lock(hashtextextended('keyhole.break-glass:' || current_schema() || ':' || $1, 0))",
        [request.subject],
      );
      const last = (await run(c, Q.lastBreakGlass, { subject: request.subject, since: cooldownSince }))
        .rows[0]?.last;
      if (last !== null && last !== undefined) return { kind: "cooldown", lastAt: num(last) };
      await run(c, Q.insertRequest, requestRow({ ...request, breakGlass: true }));
      await run(c, Q.insertReview, review);
      await this.append(c, audit, at);
      return { kind: "created" };
    });
  }

  async getReview(id: string): Promise<ReviewRecord | undefined> {
    const row = (await run(this.pool, Q.reviewById, { id })).rows[0];
    return row && toReview(row);
  }

  async listReviews(query: {
    status?: "open" | "closed";
    openedBefore?: number;
    limit: number;
    before?: number;
  }) {
    const { rows } = await run(this.pool, Q.listReviews, {
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
    return this.write(async (c) => {
      if ((await run(c, Q.closeReview, change)).rowCount === 0) return false;
      await this.append(c, audit, change.at);
      return true;
    });
  }

  async markReviewOverdue(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean> {
    return this.write(async (c) => {
      if ((await run(c, Q.markReviewOverdue, { id, at })).rowCount === 0) return false;
      await this.append(c, audit, at);
      return true;
    });
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    const { rows } = await run(this.pool, Q.requestById, { id });
    return (await this.toRequests(this.pool, rows))[0];
  }

  async listRequests(query: { status?: RequestStatus; limit: number; before?: number }) {
    const { rows } = await run(this.pool, Q.listRequests, {
      status: query.status ?? null,
      before: query.before ?? null,
      limit: query.limit,
    });
    const records = await this.toRequests(this.pool, rows);
    return records.map((record, i) => ({ record, cursor: num(rows[i]!.seq) }));
  }

  async listExpiredPending(now: number, limit: number): Promise<RequestRecord[]> {
    return this.toRequests(this.pool, (await run(this.pool, Q.listExpiredPending, { now, limit })).rows);
  }

  async listByStatus(status: RequestStatus, limit: number): Promise<RequestRecord[]> {
    return this.toRequests(this.pool, (await run(this.pool, Q.listRequestsByStatus, { status, limit })).rows);
  }

  async transitionRequest(
    change: { id: string; from: RequestStatus; to: RequestStatus; at: number; set?: TransitionFields },
    audit: readonly AuditEntry[],
  ): Promise<boolean> {
    return this.write(async (c) => {
      // A racing transaction waits on the row lock, then re-checks `status = :from` on the row it
      // committed (READ COMMITTED's re-check), finds it moved and changes nothing.
      if ((await run(c, Q.transitionRequest, transitionRow(change))).rowCount === 0) return false;
      await this.append(c, audit, change.at);
      return true;
    });
  }

  async addApproval(
    approval: NewApproval & { readonly requestId: string },
    audit: (outcome: { count: number; approved: boolean; request: RequestRecord }) => readonly AuditEntry[],
  ): Promise<ApprovalOutcome> {
    return this.write(async (c): Promise<ApprovalOutcome> => {
      const { requestId, at } = approval;
      const required = approval.required ?? 0;
      // The row lock makes approvals of one request take turns: each counts the ones before it.
      const row = (await run(c, Q.requestByIdForUpdate, { id: requestId })).rows[0];
      if (!row) return { kind: "not-found" };
      if (row.status !== "pending") return { kind: "not-pending", status: row.status as RequestStatus };
      const inserted = (
        await run(c, Q.insertApproval, {
          requestId,
          subject: approval.subject,
          at,
          note: approval.note ?? null,
        })
      ).rowCount;
      if (inserted === 0) return { kind: "duplicate" };
      await run(c, Q.raiseRequestApprovals, { id: requestId, required });
      const recorded = num((await run(c, Q.countApprovals, { requestId })).rows[0]?.n);
      const count = recorded - (approval.discount ?? 0);
      let approved = false;
      if (count >= Math.max(num(row.approvals_required), required)) {
        approved = (await run(c, Q.approveRequest, { id: requestId, at })).rowCount === 1;
      } else {
        await run(c, Q.touchRequest, { id: requestId, at });
      }
      const after = (await run(c, Q.requestById, { id: requestId })).rows;
      const request = (await this.toRequests(c, after))[0]!;
      await this.append(c, audit({ count, approved, request }), at);
      return { kind: "added", count, approved };
    });
  }

  async registerArtifact(artifact: ArtifactRecord, result: unknown, audit: readonly AuditEntry[]) {
    return this.write(async (c) => {
      const moved = (
        await run(c, Q.completeWithArtifact, {
          id: artifact.requestId,
          at: artifact.createdAt,
          result: JSON.stringify(result),
          artifactId: artifact.id,
        })
      ).rowCount;
      if (moved === 0) return false;
      await run(c, Q.insertArtifact, artifactRow(artifact));
      await this.append(c, audit, artifact.createdAt);
      return true;
    });
  }

  async getArtifact(id: string): Promise<ArtifactRecord | undefined> {
    const row = (await run(this.pool, Q.artifactById, { id })).rows[0];
    return row && toArtifact(row);
  }

  async listArtifacts(query: { limit: number; before?: number }) {
    const { rows } = await run(this.pool, Q.listArtifacts, {
      before: query.before ?? null,
      limit: query.limit,
    });
    return rows.map((row) => ({ record: toArtifact(row), cursor: num(row.seq) }));
  }

  async listExpiredArtifacts(environment: string, createdBefore: number, limit: number) {
    return (await run(this.pool, Q.listExpiredArtifacts, { environment, createdBefore, limit })).rows.map(
      toArtifact,
    );
  }

  async markArtifactDeleted(id: string, at: number, audit: readonly AuditEntry[]): Promise<boolean> {
    return this.write(async (c) => {
      if ((await run(c, Q.markArtifactDeleted, { id, at })).rowCount === 0) return false;
      await this.append(c, audit, at);
      return true;
    });
  }

  async appendAudit(audit: readonly AuditEntry[], at: number): Promise<AuditRecord[]> {
    return this.write((c) => this.append(c, audit, at));
  }

  async listRequestAudit(requestId: string): Promise<LinkedAuditRecord[]> {
    return (await run(this.pool, Q.listRequestAudit, { requestId })).rows.map(toLinkedAudit);
  }

  async listCollectionAudit(collectionId: string): Promise<LinkedAuditRecord[]> {
    const { rows } = await run(this.pool, Q.listCollectionAudit, {
      pattern: collectionPattern(collectionId),
    });
    return rows.map(toLinkedAudit);
  }

  async listCredentialAudit(id: string): Promise<LinkedAuditRecord[]> {
    const { rows } = await run(this.pool, Q.listCredentialAudit, { pattern: credentialPattern(id) });
    return rows.map(toLinkedAudit);
  }

  async listAudit(query: { afterSeq?: number; limit?: number } = {}): Promise<AuditRecord[]> {
    const { rows } = await run(this.pool, Q.listAudit, {
      afterSeq: query.afterSeq ?? 0,
      limit: query.limit ?? NO_LIMIT,
    });
    return rows.map(toAudit);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const row = (await run(this.pool, Q.auditTail, {})).rows[0];
    return row && { seq: num(row.seq), hash: String(row.hash) };
  }

  async appendCheckpoint(checkpoint: AuditCheckpoint): Promise<void> {
    await run(this.pool, Q.insertCheckpoint, checkpoint);
  }

  async listCheckpoints(query: { afterSeq?: number } = {}): Promise<AuditCheckpoint[]> {
    return (await run(this.pool, Q.listCheckpoints, { afterSeq: query.afterSeq ?? -1 })).rows.map(
      toCheckpoint,
    );
  }

  private fleetStore: PostgresFleetStore | undefined;
  /** The fleet's tables (postgres-fleet.ts), written in this store's transactions and audit chain. */
  get fleet(): FleetStore {
    this.fleetStore ??= new PostgresFleetStore(
      this.pool,
      (fn) => this.write(fn),
      (c, entries, at) => this.append(c, entries, at),
    );
    return this.fleetStore;
  }

  /** One statement, atomic under concurrency: the row is locked by the upsert. PostgreSQL only. */
  readonly sharedRateCounter: RateCounter = async (key, at, windowMs) => {
    const { rows } = await this.pool.query(
      `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         window_start = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $2 ELSE rate_limits.window_start END,
         count = CASE WHEN rate_limits.window_start + $3 <= $2 THEN 1 ELSE rate_limits.count + 1 END
       RETURNING window_start, count`,
      [key, at, windowMs],
    );
    return { count: num(rows[0].count), windowStart: num(rows[0].window_start) };
  };

  private closing: Promise<void> | undefined;
  async close(): Promise<void> {
    this.closing ??= this.pool.end();
    await this.closing;
  }

  /** Runs `fn` in one transaction on one pooled connection: COMMIT when it resolves, else ROLLBACK. */
  private write<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  /** Appends to the chain; must run inside `write`, after the state change's own row locks. */
  private async append(c: Client, entries: readonly AuditEntry[], at: number): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    // Serialise first: an entry that cannot be (e.g. a NaN) fails before the chain is locked.
    for (const entry of entries) canonicalJson(entry.details ?? {});
    // Lock, then read the tail: two statements in one round trip (a parameterless simple query), so
    // the lock is held one round trip less. In READ COMMITTED each statement takes its own snapshot,
    // so the second one, run once the lock is ours, sees every append committed before it.
    const [, tailResult] = (await c.query(
      `SELECT id FROM audit_append_lock WHERE id = 1 FOR UPDATE; ${Q.auditTail.postgres.text}`,
    )) as unknown as [pg.QueryResult, pg.QueryResult<{ seq: string; hash: string }>];
    const tail = tailResult.rows[0];
    let seq = tail ? num(tail.seq) : 0;
    let prevHash = tail?.hash ?? GENESIS_HASH;
    const records: AuditRecord[] = [];
    const values: unknown[] = [];
    for (const entry of entries) {
      const record = chainRecord(entry, ++seq, at, prevHash);
      values.push(...argsOf(Q.insertAudit.postgres, { ...record, details: canonicalJson(record.details) }));
      records.push(record);
      prevHash = record.hash;
    }
    // All of the transaction's records in one statement.
    await c.query(rowsOf(Q.insertAudit, records.length), values);
    return records;
  }

  /** Rows to records, with every row's approvals read in one query. */
  private async toRequests(on: pg.Pool | Client, rows: readonly Row[]): Promise<RequestRecord[]> {
    if (rows.length === 0) return [];
    const requestIds = rows.map((row) => String(row.id));
    const approvals = approvalsByRequest(rows, (await run(on, Q.approvalsOfMany, { requestIds })).rows);
    return rows.map((row) => toRequest(row, approvals.get(String(row.id)) ?? []));
  }
}
