/**
 * What only the SQLite store has: its pragmas and schema version. Its behaviour (requests,
 * approvals, audit, tokens, artifacts, reopening, newer schemas) is the store contract, run against
 * SQLite and PostgreSQL alike: test/integration/controller/store-contract.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SQLITE_MIGRATIONS } from "../../../controller/store/sqlite-schema.js";
import { openSqliteStore, type SqliteStore } from "../../../controller/store/sqlite-store.js";

describe("SqliteStore", () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-store-"));
    store = openSqliteStore(join(dir, "keyhole.db"));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("opens in WAL mode with a busy timeout and FULL sync, at the latest schema version", () => {
    expect(store.db.pragma("journal_mode")).toBe("wal");
    expect(store.db.pragma("busy_timeout")).toBe(5000);
    // FULL (2): a commit, and so an acknowledged audit record, survives a power cut.
    expect(store.db.pragma("synchronous")).toBe(2);
    expect(store.db.pragma("foreign_keys")).toBe(1);
    expect(store.db.pragma("user_version")).toBe(SQLITE_MIGRATIONS.length);
  });
});
