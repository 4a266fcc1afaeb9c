/**
 * The errors a real database gives when it goes away are the ones the controller answers as
 * `503 KH_STORE_UNAVAILABLE` (nothing recorded, retry safe) and rides out when writing an agent's
 * answer: PostgreSQL refusing connections, and a session killed under a client (as a failover or
 * a restart does), on the real server at 127.0.0.1:5432; node:sqlite's errors for a database locked
 * by another connection, a file that cannot be opened and a closed connection (the whole SQLite
 * outage through the controller is store-unavailable.test.ts). A constraint violation is not
 * "unavailable".
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { isStoreUnavailable } from "../../controller/store/unavailable.js";

const URL = "postgres://postgres@127.0.0.1:5432/test";

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("database errors classified as unavailable", () => {
  it("a refused connection is unavailable", async () => {
    const client = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/test`,
    });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(isStoreUnavailable(err)).toBe(true);
  });

  it("a session terminated under the client is unavailable; a constraint violation is not", async () => {
    const victim = new pg.Client({ connectionString: URL });
    const admin = new pg.Client({ connectionString: URL });
    victim.on("error", () => {});
    await victim.connect();
    await admin.connect();
    try {
      const notUnavailable = await admin.query("SELECT 1/0").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreUnavailable(notUnavailable)).toBe(false);
      const { rows } = await victim.query("SELECT pg_backend_pid() AS pid");
      await admin.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
      const err = await victim.query("SELECT 1").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeDefined();
      expect(isStoreUnavailable(err)).toBe(true);
    } finally {
      await admin.end();
      await victim.end().catch(() => {});
    }
  });
});

describe("SQLite errors classified as unavailable", () => {
  const thrown = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (err) {
      return err;
    }
    throw new Error("expected an error");
  };

  it("locked by another connection, unopenable or closed is unavailable; a constraint violation is not", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyhole-sqlite-errors-"));
    const path = join(dir, "db.sqlite");
    const holder = new DatabaseSync(path);
    const other = new DatabaseSync(path, { timeout: 50 });
    try {
      holder.exec(
        "PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY) STRICT; INSERT INTO t VALUES ('a')",
      );
      const duplicate = thrown(() => other.exec("INSERT INTO t VALUES ('a')"));
      expect(duplicate).toMatchObject({ code: "ERR_SQLITE_ERROR", errcode: 1555 }); // SQLITE_CONSTRAINT_PRIMARYKEY
      expect(isStoreUnavailable(duplicate)).toBe(false);

      holder.exec("BEGIN IMMEDIATE");
      const busy = thrown(() => other.exec("BEGIN IMMEDIATE"));
      expect(busy).toMatchObject({ code: "ERR_SQLITE_ERROR", errcode: 5 }); // SQLITE_BUSY
      expect(isStoreUnavailable(busy)).toBe(true);
      holder.exec("ROLLBACK");

      const unopenable = thrown(() => new DatabaseSync(join(dir, "missing", "db.sqlite")));
      expect(isStoreUnavailable(unopenable)).toBe(true);

      other.close();
      expect(isStoreUnavailable(thrown(() => other.prepare("SELECT 1")))).toBe(true);
    } finally {
      holder.close();
      if (other.isOpen) other.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
