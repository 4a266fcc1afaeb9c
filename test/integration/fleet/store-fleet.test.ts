/**
 * The fleet's store contract, run against a real SQLite file and a real PostgreSQL (a private schema
 * per run): the same behaviour from both, audit records in the same transactions as the changes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../../controller/audit/chain.js";
import { mintEnrollToken, mintSession } from "../../../controller/fleet/credentials.js";
import type { NewCollection } from "../../../controller/store/fleet-types.js";
import { openPostgresStore } from "../../../controller/store/postgres-store.js";
import { openSqliteStore } from "../../../controller/store/sqlite-store.js";
import type { Store } from "../../../controller/store/types.js";
import { createTestSchema } from "../../helpers/postgres.js";

type Opened = { store: Store; close: () => Promise<void> };

const backends: [string, () => Promise<Opened>][] = [
  [
    "SQLite",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "keyhole-fleet-store-"));
      const store = openSqliteStore(join(dir, "keyhole.db"));
      return {
        store,
        close: async () => {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    "PostgreSQL",
    async () => {
      const schema = await createTestSchema("kh_fleet");
      const store = await openPostgresStore(schema.url);
      return {
        store,
        close: async () => {
          await store.close();
          await schema.drop();
        },
      };
    },
  ],
];

const T0 = Date.UTC(2026, 10, 27, 3, 0, 0);
const actor = "local:test";

function collection(id: string, overrides: Partial<NewCollection> = {}): NewCollection {
  return {
    id,
    status: "pending",
    subject: "user:alice@example.com",
    action: "process-info",
    selector: "app=payments",
    environment: "production",
    params: {},
    reason: "test",
    ticket: undefined,
    output: "inline",
    targets: [
      { id: "a", url: "http://127.0.0.1:1", source: "enrolled", labels: { app: "payments" } },
      { id: "b", url: "http://127.0.0.1:2", source: "static", labels: { app: "payments" } },
    ],
    targetsDigest: "d".repeat(64),
    maxConcurrency: 2,
    maxErrors: { kind: "percent", value: 50 },
    errorBudget: 1,
    approvalsRequired: 2,
    createdAt: T0,
    expiresAt: T0 + 3_600_000,
    trigger: { rule: "r", fingerprint: "f", alertname: "A" },
    ...overrides,
  };
}

describe.each(backends)("fleet store on %s", (_name, open) => {
  let opened: Opened | undefined;
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  it("keeps enrollment tokens and agents, revokes once, batches heartbeats", async () => {
    opened = await open();
    const { fleet } = opened.store;
    const { record } = mintEnrollToken({ environment: "staging", ttlSeconds: 60, createdBy: actor }, T0);
    await fleet.insertEnrollToken(
      record,
      { actor, event: "enroll-token.issued", details: { id: record.id } },
      T0,
    );
    expect(await fleet.getEnrollToken(record.id)).toEqual(record);
    const agent = {
      id: "staging/payments/p-0",
      environment: "staging",
      url: "http://10.0.0.1:7070",
      labels: { app: "payments" },
      actions: ["process-info"],
      enrollTokenId: record.id,
      sessionHash: mintSession().hash,
      enrolledAt: T0,
      lastSeenAt: T0,
    };
    await fleet.saveEnrolledAgent(agent, [{ actor, event: "agent.enrolled" }], T0);
    await fleet.saveEnrolledAgent(
      { ...agent, url: "http://10.0.0.2:7070" },
      [{ actor, event: "agent.enrolled" }],
      T0 + 1,
    );
    expect(await fleet.listEnrolledAgents()).toEqual([{ ...agent, url: "http://10.0.0.2:7070" }]);
    await fleet.recordHeartbeats([
      { id: agent.id, at: T0 + 5000 },
      { id: "unknown", at: T0 + 5000 },
    ]);
    await fleet.recordHeartbeats([{ id: agent.id, at: T0 + 1000 }]); // older: never moves back
    expect((await fleet.getEnrolledAgent(agent.id))?.lastSeenAt).toBe(T0 + 5000);
    const revoked = await fleet.revokeEnrollToken(record.id, T0 + 10, {
      actor,
      event: "enroll-token.revoked",
    });
    expect(revoked).toMatchObject({ kind: "revoked", token: { revokedAt: T0 + 10 } });
    expect(
      (await fleet.revokeEnrollToken(record.id, T0 + 20, { actor, event: "enroll-token.revoked" })).kind,
    ).toBe("already-revoked");
    expect((await fleet.revokeEnrollToken("nope", T0, { actor, event: "enroll-token.revoked" })).kind).toBe(
      "not-found",
    );
    const audit = await opened.store.listAudit();
    expect(audit.map((r) => r.event)).toEqual([
      "enroll-token.issued",
      "agent.enrolled",
      "agent.enrolled",
      "enroll-token.revoked",
    ]);
    expect(findBrokenLink(audit)).toBeUndefined();
  });

  it("moves collections compare-and-set and counts distinct approvals", async () => {
    opened = await open();
    const { fleet } = opened.store;
    await fleet.createCollection(collection("c1"), [{ actor, event: "collection.created" }], T0);
    const stored = await fleet.getCollection("c1");
    expect(stored).toMatchObject({
      ...collection("c1"),
      approvals: [],
      summary: undefined,
      denial: undefined,
      updatedAt: T0,
    });
    const audit = (o: { count: number; approved: boolean }) => [
      { actor, event: "collection.approved" as const, details: { ...o } },
    ];
    expect(
      await fleet.addCollectionApproval(
        { collectionId: "c1", subject: "user:bob@example.com", note: "ok", at: T0 + 1 },
        audit,
      ),
    ).toEqual({
      kind: "added",
      count: 1,
      approved: false,
    });
    expect(
      (
        await fleet.addCollectionApproval(
          { collectionId: "c1", subject: "user:bob@example.com", note: undefined, at: T0 + 2 },
          audit,
        )
      ).kind,
    ).toBe("duplicate");
    expect(
      await fleet.addCollectionApproval(
        { collectionId: "c1", subject: "user:carol@example.com", note: undefined, at: T0 + 3 },
        audit,
      ),
    ).toEqual({
      kind: "added",
      count: 2,
      approved: true,
    });
    expect(
      (
        await fleet.addCollectionApproval(
          { collectionId: "nope", subject: "user:x@example.com", note: undefined, at: T0 },
          audit,
        )
      ).kind,
    ).toBe("not-found");
    expect((await fleet.getCollection("c1"))?.approvals.map((a) => a.subject)).toEqual([
      "user:bob@example.com",
      "user:carol@example.com",
    ]);
    expect(
      await fleet.transitionCollection({ id: "c1", from: "approved", to: "running", at: T0 + 4 }, [
        { actor, event: "collection.started" },
      ]),
    ).toBe(true);
    expect(
      await fleet.transitionCollection({ id: "c1", from: "approved", to: "running", at: T0 + 5 }, [
        { actor, event: "collection.started" },
      ]),
    ).toBe(false);
    const summary = {
      targets: 2,
      succeeded: 1,
      failed: 1,
      skipped: 0,
      budgetSpent: false,
      startedAt: T0 + 4,
      finishedAt: T0 + 9,
    };
    await fleet.transitionCollection(
      { id: "c1", from: "running", to: "completed", at: T0 + 9, set: { summary } },
      [{ actor, event: "collection.finished" }],
    );
    expect(await fleet.getCollection("c1")).toMatchObject({ status: "completed", summary });
    expect((await fleet.listCollectionsByStatus("completed", 10)).map((c) => c.id)).toEqual(["c1"]);
    await fleet.createCollection(collection("c2"), [], T0 + 10);
    expect((await fleet.listCollections({ limit: 10 })).map((r) => r.record.id)).toEqual(["c2", "c1"]);
    const events = (await opened.store.listAudit()).map((r) => r.event);
    expect(events.filter((e) => e === "collection.started")).toHaveLength(1);
  });

  it("writes a batch of target requests in one transaction and links them to the collection", async () => {
    opened = await open();
    const { store } = opened;
    await store.fleet.createCollection(collection("c1", { status: "approved" }), [], T0);
    const request = (id: string, target: string) => ({
      id,
      status: "dispatched" as const,
      subject: "user:alice@example.com",
      action: "process-info",
      target,
      environment: "production",
      params: {},
      reason: "test",
      ticket: undefined,
      approvalsRequired: 1,
      createdAt: T0,
      expiresAt: T0 + 1000,
    });
    const approvals = [{ subject: "user:bob@example.com", at: T0, note: undefined }];
    const applied = await store.fleet.applyRequestBatch(
      [
        {
          kind: "create",
          collectionId: "c1",
          request: request("r1", "a"),
          approvals,
          set: { jti: "j".repeat(22), kid: "k" },
          audit: [{ actor, event: "request.created", requestId: "r1" }],
        },
        {
          kind: "create",
          collectionId: "c1",
          request: { ...request("r2", "b"), status: "failed" },
          approvals,
          set: { error: { code: "KH_X", message: "m" } },
          audit: [{ actor, event: "request.failed", requestId: "r2" }],
        },
      ],
      T0 + 1,
    );
    expect(applied).toEqual([true, true]);
    const moved = await store.fleet.applyRequestBatch(
      [
        {
          kind: "transition",
          change: { id: "r1", from: "dispatched", to: "completed", set: { result: { ok: 1 } } },
          audit: [{ actor, event: "request.completed", requestId: "r1" }],
        },
        {
          kind: "transition",
          change: { id: "r2", from: "dispatched", to: "completed" },
          audit: [{ actor, event: "request.completed", requestId: "r2" }],
        },
      ],
      T0 + 2,
    );
    expect(moved).toEqual([true, false]);
    expect(await store.getRequest("r1")).toMatchObject({
      status: "completed",
      result: { ok: 1 },
      jti: "j".repeat(22),
      approvals: [{ subject: "user:bob@example.com" }],
    });
    expect(await store.getRequest("r2")).toMatchObject({
      status: "failed",
      error: { code: "KH_X", message: "m" },
    });
    expect(await store.fleet.listCollectionRequests("c1")).toEqual([
      { target: "a", requestId: "r1" },
      { target: "b", requestId: "r2" },
    ]);
    // The skipped transition wrote no record.
    const audit = await store.listAudit();
    expect(audit.map((r) => `${r.event}:${r.requestId}`)).toEqual([
      "request.created:r1",
      "request.failed:r2",
      "request.completed:r1",
    ]);
    expect(findBrokenLink(audit)).toBeUndefined();
  });

  it("claims a trigger firing once per cooldown", async () => {
    opened = await open();
    const { fleet } = opened.store;
    const fired = [{ actor: "svc:am", event: "trigger.fired" as const }];
    expect(await fleet.claimTriggerFiring("rule:fp", T0, 60_000, fired)).toBe(true);
    expect(await fleet.claimTriggerFiring("rule:fp", T0 + 59_999, 60_000, fired)).toBe(false);
    expect(await fleet.claimTriggerFiring("rule:other", T0 + 1, 60_000, fired)).toBe(true);
    expect(await fleet.claimTriggerFiring("rule:fp", T0 + 60_000, 60_000, fired)).toBe(true);
    expect((await opened.store.listAudit()).length).toBe(3);
  });
});
