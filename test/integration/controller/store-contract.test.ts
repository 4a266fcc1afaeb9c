/**
 * The store contract against both implementations: SQLite on a temp file and PostgreSQL on
 * 127.0.0.1:5432 (database `test`), each test in a schema of its own that is dropped after it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POSTGRES_MIGRATIONS } from "../../../controller/store/postgres-schema.js";
import { openPostgresStore, redactUrl } from "../../../controller/store/postgres-store.js";
import { SQLITE_MIGRATIONS } from "../../../controller/store/sqlite-schema.js";
import { openSqliteStore } from "../../../controller/store/sqlite-store.js";
import { isStoreUnavailable } from "../../../controller/store/unavailable.js";
import {
  createTestSchema,
  TEST_POSTGRES_URL,
  type TestSchema,
  urlWithSchema,
} from "../../helpers/postgres.js";
import { governanceStoreContract } from "../../unit/controller/store-governance-contract.js";
import { coreStoreContract, expectLinearChain, newRequest, type StoreBackend, T0 } from "./store-contract.js";
import { fleetStoreContract } from "./store-fleet-contract.js";

const run = promisify(execFile);

async function sqliteBackend(): Promise<StoreBackend> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-store-contract-"));
  const path = join(dir, "keyhole.db");
  const raw = (fn: (db: DatabaseSync) => void) => {
    const db = new DatabaseSync(path);
    try {
      fn(db);
    } finally {
      db.close();
    }
  };
  return {
    open: async () => openSqliteStore(path),
    exec: async (sql) => raw((db) => db.exec(sql)),
    markNewer: async () => raw((db) => db.exec(`PRAGMA user_version = ${SQLITE_MIGRATIONS.length + 1}`)),
    destroy: () => rm(dir, { recursive: true, force: true }),
  };
}

async function postgresBackend(): Promise<StoreBackend> {
  const schema = await createTestSchema();
  return {
    open: () => openPostgresStore(schema.url, { maxConnections: 4 }),
    exec: async (sql) => {
      await schema.query(sql);
    },
    markNewer: async () => {
      await schema.query("INSERT INTO keyhole_migrations (version) VALUES ($1)", [
        POSTGRES_MIGRATIONS.length + 1,
      ]);
    },
    destroy: () => schema.drop(),
  };
}

coreStoreContract("SQLite", sqliteBackend);
coreStoreContract("PostgreSQL", postgresBackend);
fleetStoreContract("SQLite", sqliteBackend);
fleetStoreContract("PostgreSQL", postgresBackend);
// The SQLite run of the governance contract is in test/unit/controller/store-governance.test.ts.
governanceStoreContract("PostgreSQL", async () => {
  const backend = await postgresBackend();
  const store = await backend.open();
  return {
    store,
    close: async () => {
      await store.close();
      await backend.destroy();
    },
  };
});

describe("PostgreSQL store: start-up", () => {
  let schema: TestSchema;
  beforeAll(async () => {
    schema = await createTestSchema();
  });
  afterAll(async () => {
    await schema.drop();
  });

  it("creates the schema once when several controllers start at the same moment", async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(schema.url)));
    try {
      const versions = await schema.query("SELECT version FROM keyhole_migrations ORDER BY version");
      expect(versions.rows.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
      const tables = await schema.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        [schema.name],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining([
          "approvals",
          "artifacts",
          "audit",
          "audit_append_lock",
          "requests",
          "tokens",
        ]),
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("recovers from connections the server dropped: the next call reconnects, nothing half-written", async () => {
    // A name of its own, so only this store's connections are ended, not those of parallel tests.
    const url = new URL(schema.url);
    url.searchParams.set("application_name", `kh_drop_${schema.name}`);
    const store = await openPostgresStore(url.toString(), { maxConnections: 2 });
    try {
      await store.appendAudit([{ actor: "x", event: "controller.started" }], T0);
      // Every connection of this store, ended by the server (a restart or a failover looks the same).
      const killed = await schema.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = $1 AND pid <> pg_backend_pid()`,
        [`kh_drop_${schema.name}`],
      );
      expect(killed.rowCount).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      let failures = 0;
      for (let i = 0; i < 3; i++) {
        await store
          .appendAudit([{ actor: "x", event: "controller.started", details: { i } }], T0)
          .catch(() => {
            failures++;
          });
      }
      // At most the call on a dead connection fails; the pool replaces it.
      expect(failures).toBeLessThanOrEqual(1);
      const records = await store.listAudit();
      expect(records).toHaveLength(4 - failures);
      expectLinearChain(records);
    } finally {
      await store.close();
    }
  });

  it("fails a transaction whose connection dies mid-way with that error, and nothing else dies", async () => {
    const url = new URL(schema.url);
    url.searchParams.set("application_name", `kh_midway_${schema.name}`);
    const store = await openPostgresStore(url.toString(), { maxConnections: 2 });
    const holder = new pg.Client({ connectionString: schema.url });
    await holder.connect();
    try {
      await store.createRequest(newRequest("held", { status: "approved" }), [], T0);
      const before = await store.listAudit();
      // Hold the row, so the store's transaction waits inside its UPDATE, then end its connection.
      await holder.query("BEGIN");
      await holder.query("SELECT id FROM requests WHERE id = 'held' FOR UPDATE");
      const attempt = store.transitionRequest({ id: "held", from: "approved", to: "dispatched", at: T0 }, [
        { actor: "x", event: "request.dispatched", requestId: "held" },
      ]);
      const outcome = attempt.then(
        () => "resolved",
        (err: Error) => err,
      );
      for (let i = 0; i < 100; i++) {
        const waiting = await holder.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [`kh_midway_${schema.name}`],
        );
        if (waiting.rowCount) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const err = await outcome;
      expect(err).toBeInstanceOf(Error);
      // What the HTTP layer maps to 503 KH_STORE_UNAVAILABLE.
      expect(isStoreUnavailable(err)).toBe(true);
      await holder.query("ROLLBACK");
      // The pool dropped the dead connection; the store carries on, and nothing was half-written.
      expect(
        await store.transitionRequest({ id: "held", from: "approved", to: "dispatched", at: T0 }, []),
      ).toBe(true);
      expect(await store.listAudit()).toEqual(before);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  it("lets the server end a replica's transaction left idle (a partition), freeing the audit chain", async () => {
    const stalled = await openPostgresStore(schema.url, { maxConnections: 1, idleInTransactionMs: 300 });
    const other = await openPostgresStore(schema.url, { maxConnections: 1 });
    try {
      expect((await other.pool.query("SHOW idle_in_transaction_session_timeout")).rows[0]).toEqual({
        idle_in_transaction_session_timeout: "30s",
      });
      // A replica that took the chain lock and then went silent, as if cut off mid-transaction.
      const client = await stalled.pool.connect();
      // The server's FATAL message and then the closed socket: two 'error' events, both heard.
      const lost = new Promise<Error>((resolve) => client.on("error", resolve));
      await client.query("BEGIN");
      await client.query("SELECT id FROM audit_append_lock WHERE id = 1 FOR UPDATE");
      const started = Date.now();
      // The other replica's append waits for the lock, then gets it once the server ends the session.
      const records = await other.appendAudit([{ actor: "x", event: "controller.started" }], T0);
      expect(records).toHaveLength(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect((await lost).message).toMatch(/terminat/i);
      client.release(true);
      expectLinearChain(await other.listAudit());
    } finally {
      await stalled.close();
      await other.close();
    }
  });

  it("survives pg_dump and pg_restore: the restored chain verifies and the controller carries on", async () => {
    const store = await openPostgresStore(schema.url, { maxConnections: 2 });
    const restoredDb = `kh_restore_${schema.name.slice(-12)}`;
    try {
      await store.createRequest(
        newRequest("dumped"),
        [{ actor: "user:alice@example.com", event: "request.created", requestId: "dumped" }],
        T0,
      );
      const before = await store.listAudit();
      const dump = join(await mkdtemp(join(tmpdir(), "keyhole-pgdump-")), "keyhole.dump");
      const base = new URL(TEST_POSTGRES_URL);
      await run("pg_dump", ["--format=custom", `--schema=${schema.name}`, `--file=${dump}`, base.toString()]);
      await schema.query(`CREATE DATABASE ${restoredDb}`);
      const restoredBase = new URL(base);
      restoredBase.pathname = `/${restoredDb}`;
      await run("pg_restore", ["--no-owner", `--dbname=${restoredBase.toString()}`, dump]);
      await rm(dirname(dump), { recursive: true, force: true });

      const restored = await openPostgresStore(urlWithSchema(schema.name, restoredBase.toString()), {
        maxConnections: 2,
      });
      try {
        expect(await restored.listAudit()).toEqual(before);
        expect((await restored.getRequest("dumped"))?.reason).toBe("INC-1");
        await restored.appendAudit([{ actor: "x", event: "controller.started" }], T0 + 1);
        expectLinearChain(await restored.listAudit());
      } finally {
        await restored.close();
      }
    } finally {
      await store.close();
      await schema.query(`DROP DATABASE IF EXISTS ${restoredDb} WITH (FORCE)`);
    }
  });

  it("says clearly when the search path names no schema, or the server cannot be reached", async () => {
    await expect(openPostgresStore(urlWithSchema("kh_no_such_schema"))).rejects.toThrow(
      /no schema to create tables in/,
    );
    // A closed port on loopback: refused at once, with the URL (never its password) in the message.
    await expect(
      openPostgresStore("postgres://keyhole:s3cret-pw@127.0.0.1:1/test", { connectTimeoutMs: 2000 }),
    ).rejects.toThrow(/cannot open the PostgreSQL database postgres:\/\/keyhole:\*\*\*@127\.0\.0\.1:1\/test/);
    await expect(
      openPostgresStore("postgres://keyhole:s3cret-pw@127.0.0.1:1/test", { connectTimeoutMs: 2000 }),
    ).rejects.not.toThrow(/s3cret-pw/);
    expect(redactUrl("postgres://u:p@h/db?sslmode=require")).toBe("postgres://u:***@h/db?sslmode=require");
    expect(redactUrl("postgres://u@h/db?password=p&sslpassword=q&sslmode=verify-full")).toBe(
      "postgres://u@h/db?password=***&sslpassword=***&sslmode=verify-full",
    );
  });
});
