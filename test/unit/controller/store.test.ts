import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../../controller/audit/chain.js";
import { SQLITE_MIGRATIONS } from "../../../controller/store/sqlite-schema.js";
import { openSqliteStore, type SqliteStore } from "../../../controller/store/sqlite-store.js";
import type { NewRequest } from "../../../controller/store/types.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");

function newRequest(id: string, overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    id,
    status: "pending",
    subject: "user:alice@example.com",
    action: "env",
    target: "production/shop/shop-0",
    environment: "production",
    params: { nested: { a: [1, 2] } },
    reason: "INC-1",
    ticket: "T-1",
    approvalsRequired: 2,
    createdAt: T0,
    expiresAt: T0 + 3_600_000,
    ...overrides,
  };
}

describe("SqliteStore", () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-store-"));
    path = join(dir, "keyhole.db");
    store = openSqliteStore(path);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const created = { actor: "user:alice@example.com", event: "request.created" as const };

  it("opens in WAL mode with a busy timeout, at the latest schema version", () => {
    expect(store.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.db.pragma("busy_timeout", { simple: true })).toBe(5000);
    expect(store.db.pragma("user_version", { simple: true })).toBe(SQLITE_MIGRATIONS.length);
  });

  it("stores and reads a request round trip", async () => {
    await store.createRequest(newRequest("r1"), [{ ...created, requestId: "r1" }], T0);
    expect(await store.getRequest("r1")).toEqual({
      ...newRequest("r1"),
      output: "inline",
      approvals: [],
      updatedAt: T0,
      jti: undefined,
      kid: undefined,
      result: undefined,
      error: undefined,
      denial: undefined,
      artifactId: undefined,
      breakGlass: false,
    });
    expect(await store.getRequest("nope")).toBeUndefined();
  });

  it("moves a request once: compare-and-set transitions", async () => {
    await store.createRequest(newRequest("r1", { status: "approved" }), [], T0);
    const dispatched = { actor: "controller:c", event: "request.dispatched" as const, requestId: "r1" };
    const attempts = await Promise.all(
      Array.from({ length: 5 }, () =>
        store.transitionRequest(
          {
            id: "r1",
            from: "approved",
            to: "dispatched",
            at: T0 + 1,
            set: { jti: "j".repeat(22), kid: "k" },
          },
          [dispatched],
        ),
      ),
    );
    expect(attempts.filter(Boolean)).toHaveLength(1);
    expect((await store.listAudit()).filter((r) => r.event === "request.dispatched")).toHaveLength(1);

    expect(await store.transitionRequest({ id: "r1", from: "approved", to: "failed", at: T0 + 2 }, [])).toBe(
      false,
    );
    expect(
      await store.transitionRequest(
        { id: "r1", from: "dispatched", to: "completed", at: T0 + 3, set: { result: { ok: [1, "two"] } } },
        [{ actor: "controller:c", event: "request.completed", requestId: "r1" }],
      ),
    ).toBe(true);
    expect(await store.getRequest("r1")).toMatchObject({
      status: "completed",
      updatedAt: T0 + 3,
      jti: "j".repeat(22),
      kid: "k",
      result: { ok: [1, "two"] },
    });
    expect(await store.transitionRequest({ id: "missing", from: "pending", to: "expired", at: T0 }, [])).toBe(
      false,
    );
  });

  it("records a failure's code and a denial's author", async () => {
    await store.createRequest(newRequest("f", { status: "approved" }), [], T0);
    await store.transitionRequest(
      {
        id: "f",
        from: "approved",
        to: "failed",
        at: T0,
        set: { error: { code: "KH_REPLAY", message: "seen" } },
      },
      [],
    );
    expect((await store.getRequest("f"))!.error).toEqual({ code: "KH_REPLAY", message: "seen" });
    await store.createRequest(newRequest("d"), [], T0);
    await store.transitionRequest(
      {
        id: "d",
        from: "pending",
        to: "denied",
        at: T0,
        set: { denial: { by: "user:bob@example.com", reason: "no" } },
      },
      [],
    );
    expect((await store.getRequest("d"))!.denial).toEqual({ by: "user:bob@example.com", reason: "no" });
  });

  it("counts distinct approvals and approves in the same transaction as the last one", async () => {
    await store.createRequest(newRequest("r1"), [], T0);
    const audit = ({ count, approved }: { count: number; approved: boolean }) => [
      { actor: "x", event: "request.approved" as const, requestId: "r1", details: { count, approved } },
    ];
    expect(
      await store.addApproval(
        { requestId: "r1", subject: "user:bob@example.com", note: "ok", at: T0 + 1 },
        audit,
      ),
    ).toEqual({
      kind: "added",
      count: 1,
      approved: false,
    });
    expect(
      await store.addApproval(
        { requestId: "r1", subject: "user:bob@example.com", note: undefined, at: T0 + 2 },
        audit,
      ),
    ).toEqual({
      kind: "duplicate",
    });
    expect(
      await store.addApproval(
        { requestId: "r1", subject: "user:erin@example.com", note: undefined, at: T0 + 3 },
        audit,
      ),
    ).toEqual({
      kind: "added",
      count: 2,
      approved: true,
    });
    expect(
      await store.addApproval(
        { requestId: "r1", subject: "user:fay@example.com", note: undefined, at: T0 + 4 },
        audit,
      ),
    ).toEqual({
      kind: "not-pending",
      status: "approved",
    });
    expect(
      await store.addApproval(
        { requestId: "zz", subject: "user:fay@example.com", note: undefined, at: T0 },
        audit,
      ),
    ).toEqual({
      kind: "not-found",
    });
    const request = (await store.getRequest("r1"))!;
    expect(request.status).toBe("approved");
    expect(request.approvals).toEqual([
      { subject: "user:bob@example.com", at: T0 + 1, note: "ok" },
      { subject: "user:erin@example.com", at: T0 + 3, note: undefined },
    ]);
    expect((await store.listAudit()).map((r) => r.details)).toEqual([
      { count: 1, approved: false },
      { count: 2, approved: true },
    ]);
    expect(() => store.db.prepare("DELETE FROM approvals").run()).toThrow(/append-only/);
  });

  it("lists newest first with a cursor, by status, and finds expired pending requests", async () => {
    for (const [i, id] of ["a", "b", "c", "d"].entries()) {
      await store.createRequest(
        newRequest(id, { expiresAt: T0 + i * 1000, status: id === "c" ? "approved" : "pending" }),
        [],
        T0,
      );
    }
    const page1 = await store.listRequests({ limit: 2 });
    expect(page1.map((p) => p.record.id)).toEqual(["d", "c"]);
    const page2 = await store.listRequests({ limit: 2, before: page1.at(-1)!.cursor });
    expect(page2.map((p) => p.record.id)).toEqual(["b", "a"]);
    expect((await store.listRequests({ limit: 10, status: "approved" })).map((p) => p.record.id)).toEqual([
      "c",
    ]);
    expect((await store.listExpiredPending(T0 + 1000, 10)).map((r) => r.id)).toEqual(["a", "b"]);
    expect((await store.listByStatus("pending", 10)).map((r) => r.id)).toEqual(["a", "b", "d"]);
  });

  it("writes a state change and its audit records atomically", async () => {
    await store.createRequest(newRequest("r1"), [{ ...created, requestId: "r1" }], T0);
    // An audit entry that cannot be serialised aborts the whole transaction, state change included.
    await expect(
      store.transitionRequest({ id: "r1", from: "pending", to: "expired", at: T0 }, [
        { actor: "x", event: "request.expired", details: { bad: Number.NaN } },
      ]),
    ).rejects.toThrow();
    expect((await store.getRequest("r1"))!.status).toBe("pending");
    await expect(store.createRequest(newRequest("r1"), [], T0)).rejects.toThrow(/UNIQUE/);
    expect(findBrokenLink(await store.listAudit())).toBeUndefined();
  });

  it("keeps data across reopening and refuses a database from a newer keyhole", async () => {
    await store.createRequest(newRequest("r1"), [], T0);
    await store.close();
    store = openSqliteStore(path);
    expect((await store.getRequest("r1"))?.id).toBe("r1");
    await store.close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SQLITE_MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => openSqliteStore(path)).toThrow(/newer than this controller knows/);
    store = openSqliteStore(join(dir, "fresh.db"));
  });
});
