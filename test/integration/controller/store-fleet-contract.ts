/**
 * The store contract of the fleet (`store.fleet`: enrollment, enrolled agents, collections, request
 * batches, trigger cooldowns) and of the audit checkpoints, for any backend (store-contract.ts):
 * store-contract.test.ts runs it against SQLite and PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditCheckpoint } from "../../../controller/audit/checkpoint.js";
import type {
  EnrolledAgentRecord,
  EnrollTokenRecord,
  NewCollection,
} from "../../../controller/store/fleet-types.js";
import type { Store } from "../../../controller/store/types.js";
import { expectLinearChain, newRequest, type StoreBackend, T0 } from "./store-contract.js";

function enrollToken(id: string): EnrollTokenRecord {
  return {
    id,
    environment: "production",
    secretHash: "ef".repeat(32),
    createdBy: "local:root",
    createdAt: T0,
    expiresAt: T0 + 86_400_000,
    revokedAt: undefined,
  };
}

function enrolledAgent(id: string, overrides: Partial<EnrolledAgentRecord> = {}): EnrolledAgentRecord {
  return {
    id,
    environment: "production",
    url: `http://10.0.0.7:7070/${id}`,
    labels: { app: "payments", zone: "b" },
    actions: ["process-info", "env"],
    enrollTokenId: "et1",
    sessionHash: "aa".repeat(32),
    enrolledAt: T0,
    lastSeenAt: T0,
    ...overrides,
  };
}

function collection(id: string, overrides: Partial<NewCollection> = {}): NewCollection {
  return {
    id,
    status: "pending",
    subject: "user:alice@example.com",
    action: "process-info",
    selector: "app=payments",
    environment: "production",
    params: { b: 1, a: [true] },
    reason: "INC-7 memory",
    ticket: "INC-7",
    output: "inline",
    targets: [
      {
        id: "production/pay/pay-0",
        url: "http://10.0.0.1:7070",
        source: "static",
        labels: { app: "payments" },
      },
      {
        id: "production/pay/pay-1",
        url: "http://10.0.0.2:7070",
        source: "enrolled",
        labels: { app: "payments" },
      },
    ],
    targetsDigest: "cd".repeat(32),
    maxConcurrency: 2,
    maxErrors: { kind: "percent", value: 50 },
    errorBudget: 1,
    approvalsRequired: 2,
    createdAt: T0,
    expiresAt: T0 + 3_600_000,
    trigger: { rule: "oom", fingerprint: "f00d", alertname: "KubePodOOM" },
    ...overrides,
  };
}

const event = "controller.started" as const;

/** Registers the fleet and checkpoint contract for one backend. */
export function fleetStoreContract(name: string, createBackend: () => Promise<StoreBackend>): void {
  describe(`${name}: fleet and checkpoint store contract`, () => {
    let backend: StoreBackend;
    let store: Store;
    const extra: Store[] = [];
    beforeEach(async () => {
      backend = await createBackend();
      store = await backend.open();
    });
    afterEach(async () => {
      // Even after a failed open or close, the database (a PostgreSQL schema) is dropped.
      try {
        await Promise.allSettled([store, ...extra.splice(0)].map((s) => s?.close()));
      } finally {
        await backend?.destroy();
      }
    });
    const another = async () => {
      const s = await backend.open();
      extra.push(s);
      return s;
    };

    it("issues, lists and revokes enrollment tokens once", async () => {
      const audit = { actor: "local:root", event };
      await store.fleet.insertEnrollToken(enrollToken("et2"), audit, T0);
      await store.fleet.insertEnrollToken({ ...enrollToken("et1"), createdAt: T0 - 5 }, audit, T0);
      expect(await store.fleet.getEnrollToken("et2")).toEqual(enrollToken("et2"));
      expect(await store.fleet.getEnrollToken("nope")).toBeUndefined();
      expect((await store.fleet.listEnrollTokens()).map((t) => t.id)).toEqual(["et1", "et2"]);
      expect(await store.fleet.revokeEnrollToken("et2", T0 + 1, audit)).toEqual({
        kind: "revoked",
        token: { ...enrollToken("et2"), revokedAt: T0 + 1 },
      });
      expect((await store.fleet.revokeEnrollToken("et2", T0 + 2, audit)).kind).toBe("already-revoked");
      expect(await store.fleet.revokeEnrollToken("nope", T0, audit)).toEqual({ kind: "not-found" });
      expect(await store.listAudit()).toHaveLength(3);
    });

    it("saves, replaces and lists enrolled agents; heartbeats only move last-seen forward", async () => {
      await store.fleet.insertEnrollToken(enrollToken("et1"), { actor: "local:root", event }, T0);
      await store.fleet.saveEnrolledAgent(enrolledAgent("b"), [{ actor: "agent:b", event }], T0);
      await store.fleet.saveEnrolledAgent(enrolledAgent("a"), [], T0);
      const moved = enrolledAgent("b", {
        url: "http://10.0.0.9:7070",
        labels: { app: "x" },
        lastSeenAt: T0 + 5,
      });
      await store.fleet.saveEnrolledAgent(moved, [{ actor: "agent:b", event }], T0 + 5);
      expect(await store.fleet.getEnrolledAgent("b")).toEqual(moved);
      expect((await store.fleet.listEnrolledAgents()).map((a) => a.id)).toEqual(["a", "b"]);
      await store.fleet.recordHeartbeats([
        { id: "a", at: T0 + 100 },
        { id: "b", at: T0 + 1 },
        { id: "unknown", at: T0 + 100 },
      ]);
      await store.fleet.recordHeartbeats([]);
      expect((await store.fleet.getEnrolledAgent("a"))!.lastSeenAt).toBe(T0 + 100);
      expect((await store.fleet.getEnrolledAgent("b"))!.lastSeenAt).toBe(T0 + 5);
      expect(await store.fleet.getEnrolledAgent("unknown")).toBeUndefined();
      // Heartbeats are not audited.
      expect(await store.listAudit()).toHaveLength(3);
    });

    it("keeps an enrolled agent's pinned key and an operator's rotation allowance (issue 21)", async () => {
      await store.fleet.insertEnrollToken(enrollToken("et1"), { actor: "local:root", event }, T0);
      const pinned = enrolledAgent("k", { publicKey: "p".repeat(43) });
      await store.fleet.saveEnrolledAgent(pinned, [], T0);
      expect(await store.fleet.getEnrolledAgent("k")).toEqual(pinned);
      const rotation = { until: T0 + 3_600_000, publicKey: "q".repeat(43), allowedBy: "local:root" };
      expect(await store.fleet.setKeyRotation("k", rotation, [{ actor: "local:root", event }], T0 + 1)).toBe(
        true,
      );
      expect(
        await store.fleet.setKeyRotation("missing", rotation, [{ actor: "local:root", event }], T0 + 1),
      ).toBe(false);
      expect(await store.fleet.getEnrolledAgent("k")).toEqual({ ...pinned, keyRotation: rotation });
      // Re-enrolled with the new key, the allowance used up.
      const rotated = { ...pinned, publicKey: "q".repeat(43), keyRotation: undefined };
      await store.fleet.saveEnrolledAgent(rotated, [], T0 + 2);
      expect((await store.fleet.getEnrolledAgent("k"))!).toMatchObject({ publicKey: "q".repeat(43) });
      expect((await store.fleet.getEnrolledAgent("k"))!.keyRotation).toBeUndefined();
      // The allowance's record and the token's: none for the unknown id.
      expect(await store.listAudit()).toHaveLength(2);
    });

    it("stores a collection round trip, lists it with a cursor and moves it by compare-and-set", async () => {
      await store.fleet.createCollection(collection("c1"), [{ actor: "user:alice@example.com", event }], T0);
      await store.fleet.createCollection(
        collection("c2", { status: "approved", ticket: undefined, maxErrors: undefined, trigger: undefined }),
        [],
        T0,
      );
      expect(await store.fleet.getCollection("c1")).toEqual({
        ...collection("c1"),
        approvals: [],
        updatedAt: T0,
        summary: undefined,
        denial: undefined,
      });
      expect(await store.fleet.getCollection("c2")).toMatchObject({
        ticket: undefined,
        maxErrors: undefined,
        trigger: undefined,
        requester: undefined,
      });
      expect(await store.fleet.getCollection("nope")).toBeUndefined();
      const page1 = await store.fleet.listCollections({ limit: 1 });
      expect(page1.map((p) => p.record.id)).toEqual(["c2"]);
      const page2 = await store.fleet.listCollections({ limit: 5, before: page1[0]!.cursor });
      expect(page2.map((p) => p.record.id)).toEqual(["c1"]);
      expect(
        (await store.fleet.listCollections({ limit: 5, status: "approved" })).map((p) => p.record.id),
      ).toEqual(["c2"]);
      expect((await store.fleet.listCollectionsByStatus("pending", 5)).map((c) => c.id)).toEqual(["c1"]);

      const second = await another();
      const summary = {
        targets: 2,
        succeeded: 1,
        failed: 1,
        skipped: 0,
        budgetSpent: false,
        startedAt: T0 + 1,
        finishedAt: T0 + 2,
      };
      const moves = await Promise.all(
        [store, second, store, second].map((s) =>
          s.fleet.transitionCollection({ id: "c2", from: "approved", to: "running", at: T0 + 1 }, [
            { actor: "controller:c", event },
          ]),
        ),
      );
      expect(moves.filter(Boolean)).toHaveLength(1);
      expect(
        await store.fleet.transitionCollection(
          { id: "c2", from: "running", to: "completed", at: T0 + 2, set: { summary } },
          [],
        ),
      ).toBe(true);
      expect(await store.fleet.getCollection("c2")).toMatchObject({
        status: "completed",
        summary,
        updatedAt: T0 + 2,
      });
      expect(
        await store.fleet.transitionCollection(
          {
            id: "c1",
            from: "pending",
            to: "denied",
            at: T0 + 3,
            set: { denial: { by: "user:bob@example.com", reason: "no" } },
          },
          [],
        ),
      ).toBe(true);
      expect((await store.fleet.getCollection("c1"))!.denial).toEqual({
        by: "user:bob@example.com",
        reason: "no",
      });
      // The requester's groups and credential, kept for the entitlement re-checks (finding F1).
      const requester = {
        groups: ["sre", "oncall"],
        credential: { kind: "oidc" as const, id: "issuer-sub-7" },
      };
      await store.fleet.createCollection(collection("c3", { requester }), [], T0);
      expect((await store.fleet.getCollection("c3"))!.requester).toEqual(requester);
      expectLinearChain(await store.listAudit());
    });

    it("counts collection approvals once per subject; racing approvers on two stores approve once", async () => {
      const second = await another();
      for (let round = 0; round < 5; round++) {
        const id = `c-${round}`;
        await store.fleet.createCollection(collection(id), [], T0);
        const outcomes = await Promise.all(
          ["user:bob@example.com", "user:erin@example.com", "user:fay@example.com"].map((subject, i) =>
            (i % 2 ? second : store).fleet.addCollectionApproval(
              { collectionId: id, subject, note: i === 0 ? "ok" : undefined, at: T0 + i },
              ({ count, approved }) => [{ actor: subject, event, details: { count, approved } }],
            ),
          ),
        );
        const added = outcomes.filter((o) => o.kind === "added");
        expect(added.map((o) => o.count).sort()).toEqual([1, 2]);
        expect(added.filter((o) => o.approved)).toHaveLength(1);
        expect(outcomes.filter((o) => o.kind === "not-pending")).toHaveLength(1);
        const after = (await store.fleet.getCollection(id))!;
        expect(after.status).toBe("approved");
        expect(after.approvals).toHaveLength(2);
      }
      await store.fleet.createCollection(collection("dup", { approvalsRequired: 3 }), [], T0);
      const approve = (subject: string) =>
        store.fleet.addCollectionApproval(
          { collectionId: "dup", subject, note: undefined, at: T0 },
          () => [],
        );
      expect(await approve("user:bob@example.com")).toEqual({ kind: "added", count: 1, approved: false });
      expect(await approve("user:bob@example.com")).toEqual({ kind: "duplicate" });
      expect(
        await store.fleet.addCollectionApproval(
          { collectionId: "nope", subject: "user:bob@example.com", note: undefined, at: T0 },
          () => [],
        ),
      ).toEqual({ kind: "not-found" });
      await expect(backend.exec("DELETE FROM collection_approvals")).rejects.toThrow(/append-only/);
      expectLinearChain(await store.listAudit());
    });

    it("applies a batch of request writes in one transaction, skipping moves that lost their race", async () => {
      await store.fleet.createCollection(collection("c1", { status: "running" }), [], T0);
      const child = (target: string, i: number) =>
        newRequest(`c1-${i}`, { status: "approved", target, approvalsRequired: 1, ticket: undefined });
      const approvals = [{ subject: "user:bob@example.com", at: T0, note: "for all" }];
      const created = await store.fleet.applyRequestBatch(
        [
          {
            kind: "create",
            collectionId: "c1",
            request: child("production/pay/pay-0", 0),
            approvals,
            audit: [{ actor: "controller:c", event: "request.created", requestId: "c1-0" }],
          },
          {
            kind: "create",
            collectionId: "c1",
            request: { ...child("production/pay/pay-1", 1), status: "dispatched" },
            approvals,
            set: { jti: "j".repeat(22), kid: "k1" },
            audit: [{ actor: "controller:c", event: "request.dispatched", requestId: "c1-1" }],
          },
          {
            kind: "create",
            collectionId: "c1",
            request: { ...child("production/pay/pay-2", 2), status: "failed" },
            approvals,
            set: { error: { code: "KH_UNKNOWN_TARGET", message: "left the fleet" } },
            audit: [{ actor: "controller:c", event: "request.failed", requestId: "c1-2" }],
          },
        ],
        T0 + 1,
      );
      expect(created).toEqual([true, true, true]);
      expect(await store.fleet.listCollectionRequests("c1")).toEqual([
        { target: "production/pay/pay-0", requestId: "c1-0" },
        { target: "production/pay/pay-1", requestId: "c1-1" },
        { target: "production/pay/pay-2", requestId: "c1-2" },
      ]);
      expect(await store.getRequest("c1-2")).toMatchObject({
        status: "failed",
        error: { code: "KH_UNKNOWN_TARGET", message: "left the fleet" },
        jti: undefined,
      });
      expect(await store.getRequest("c1-1")).toMatchObject({
        status: "dispatched",
        jti: "j".repeat(22),
        kid: "k1",
        approvals: [{ subject: "user:bob@example.com", at: T0, note: "for all" }],
      });
      const moved = await store.fleet.applyRequestBatch(
        [
          {
            kind: "transition",
            change: { id: "c1-0", from: "approved", to: "dispatched", set: { jti: "x".repeat(22) } },
            audit: [{ actor: "controller:c", event: "request.dispatched", requestId: "c1-0" }],
          },
          {
            kind: "transition",
            change: { id: "c1-1", from: "approved", to: "dispatched" },
            audit: [{ actor: "controller:c", event: "request.dispatched", requestId: "c1-1" }],
          },
          {
            kind: "transition",
            change: { id: "c1-1", from: "dispatched", to: "completed", set: { result: { ok: 1 } } },
            audit: [{ actor: "controller:c", event: "request.completed", requestId: "c1-1" }],
          },
        ],
        T0 + 2,
      );
      expect(moved).toEqual([true, false, true]);
      expect(await store.getRequest("c1-1")).toMatchObject({
        status: "completed",
        result: { ok: 1 },
        updatedAt: T0 + 2,
      });
      expect(await store.fleet.applyRequestBatch([], T0)).toEqual([]);
      const audit = await store.listAudit();
      expect(audit.map((r) => `${r.event}:${r.requestId}`)).toEqual([
        "request.created:c1-0",
        "request.dispatched:c1-1",
        "request.failed:c1-2",
        "request.dispatched:c1-0",
        "request.completed:c1-1",
      ]);
      // A batch that fails half-way writes nothing (a second request for the same target).
      await expect(
        store.fleet.applyRequestBatch(
          [
            { kind: "transition", change: { id: "c1-0", from: "dispatched", to: "failed" }, audit: [] },
            {
              kind: "create",
              collectionId: "c1",
              request: child("production/pay/pay-0", 9),
              approvals: [],
              audit: [],
            },
          ],
          T0 + 3,
        ),
      ).rejects.toThrow();
      expect((await store.getRequest("c1-0"))!.status).toBe("dispatched");
      expect(await store.getRequest("c1-9")).toBeUndefined();
      expectLinearChain(await store.listAudit());
    });

    it("claims a trigger firing once per cooldown, also when two stores claim at once", async () => {
      const claim = (s: Store, at: number) =>
        s.fleet.claimTriggerFiring("oom:f00d", at, 60_000, [
          { actor: "alertmanager", event, details: { at } },
        ]);
      const second = await another();
      const first = await Promise.all([claim(store, T0), claim(second, T0), claim(store, T0)]);
      expect(first.filter(Boolean)).toHaveLength(1);
      expect(await claim(store, T0 + 59_999)).toBe(false);
      const later = await Promise.all([claim(store, T0 + 60_000), claim(second, T0 + 60_000)]);
      expect(later.filter(Boolean)).toHaveLength(1);
      expect(await store.fleet.claimTriggerFiring("other", T0, 60_000, [])).toBe(true);
      expect(await store.listAudit()).toHaveLength(2);
    });

    it("reports the chain's head and keeps signed checkpoints once per seq, append-only", async () => {
      expect(await store.auditHead()).toBeUndefined();
      const records = await store.appendAudit(
        [
          { actor: "x", event },
          { actor: "y", event },
        ],
        T0,
      );
      expect(await store.auditHead()).toEqual({ seq: 2, hash: records[1]!.hash });
      const checkpoint = (seq: number, hash: string): AuditCheckpoint => ({
        seq,
        hash,
        time: new Date(T0).toISOString(),
        kid: "audit-1",
        signature: `sig-${seq}`,
      });
      await store.appendCheckpoint(checkpoint(2, records[1]!.hash));
      await store.appendCheckpoint(checkpoint(1, records[0]!.hash));
      // A second checkpoint of the same seq (another replica's) is ignored, not an error.
      await (await another()).appendCheckpoint({ ...checkpoint(2, records[1]!.hash), signature: "other" });
      expect(await store.listCheckpoints()).toEqual([
        checkpoint(1, records[0]!.hash),
        checkpoint(2, records[1]!.hash),
      ]);
      expect(await store.listCheckpoints({ afterSeq: 1 })).toEqual([checkpoint(2, records[1]!.hash)]);
      await expect(backend.exec("UPDATE audit_checkpoints SET signature = 'forged'")).rejects.toThrow(
        /append-only/,
      );
      await expect(backend.exec("DELETE FROM audit_checkpoints")).rejects.toThrow(/append-only/);
    });
  });
}
