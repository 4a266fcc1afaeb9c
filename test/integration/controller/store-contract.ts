/**
 * The behaviour every Store implementation must have, as a function of a backend: the same cases run
 * against SQLite (a temp file) and PostgreSQL (a private schema), see store-contract.test.ts. A
 * backend can open several stores on one database, which is how two controllers share one: the
 * races here run across those stores, not just across calls on one.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AuditRecord, findBrokenLink } from "../../../controller/audit/chain.js";
import type { ArtifactRecord, NewRequest, Store, TokenRecord } from "../../../controller/store/types.js";

export const T0 = Date.parse("2030-01-01T00:00:00Z");

/** One database, and the ways a test reaches it. */
export interface StoreBackend {
  /** Opens another store on the same database (another controller, or the CLI). */
  open(): Promise<Store>;
  /** Runs raw SQL on the database, around the store (what someone with database access could do). */
  exec(sql: string): Promise<void>;
  /** Marks the database as migrated by a newer keyhole than this one. */
  markNewer(): Promise<void>;
  /** Frees the database; stores opened must be closed first. */
  destroy(): Promise<void>;
}

export function newRequest(id: string, overrides: Partial<NewRequest> = {}): NewRequest {
  return {
    id,
    status: "pending",
    subject: "user:alice@example.com",
    action: "env",
    target: "production/shop/shop-0",
    environment: "production",
    params: { nested: { a: [1, 2] }, z: "last", a: "first" },
    reason: "INC-1",
    ticket: "T-1",
    approvalsRequired: 2,
    createdAt: T0,
    expiresAt: T0 + 3_600_000,
    ...overrides,
  };
}

function artifactOf(requestId: string, overrides: Partial<ArtifactRecord> = {}): ArtifactRecord {
  return {
    id: `art-${requestId}`,
    requestId,
    subject: "user:alice@example.com",
    environment: "production",
    agent: "production/shop/shop-0",
    action: "heap-snapshot",
    filename: "heap.heapsnapshot.gz",
    contentType: "application/gzip",
    // Past 2^32: sizes and times must survive as exact integers.
    size: 6_000_000_123,
    sha256: "ab".repeat(32),
    digestSource: "controller",
    store: "local",
    location: `/data/artifacts/${requestId}`,
    createdAt: T0 + 10,
    deletedAt: undefined,
    ...overrides,
  };
}

/** The chain is one line: seq 1..n without gaps, each record linked to the one before, hashes valid. */
export function expectLinearChain(records: readonly AuditRecord[]): void {
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
  expect(findBrokenLink(records)).toBeUndefined();
  expect(new Set(records.map((r) => r.prevHash)).size).toBe(records.length);
}

const created = { actor: "user:alice@example.com", event: "request.created" as const };

/** Registers the core store contract for one backend. */
export function coreStoreContract(name: string, createBackend: () => Promise<StoreBackend>): void {
  describe(`${name}: store contract`, () => {
    let backend: StoreBackend;
    let store: Store;
    const extra: Store[] = [];
    /** A second store on the same database, closed after the test. */
    const another = async () => {
      const s = await backend.open();
      extra.push(s);
      return s;
    };
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

    it("stores and reads a request round trip, JSON exactly as written", async () => {
      await store.createRequest(newRequest("r1"), [{ ...created, requestId: "r1" }], T0);
      const read = await store.getRequest("r1");
      expect(read).toEqual({
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
      // Key order survives (no JSONB-style normalisation).
      expect(Object.keys(read!.params)).toEqual(["nested", "z", "a"]);
      expect(await store.getRequest("nope")).toBeUndefined();
      expect(read!.requester).toBeUndefined();
      // The requester's groups and credential, kept for the entitlement re-checks (finding F1).
      const requester = {
        groups: ["sre", "oncall"],
        credential: { kind: "token" as const, id: "0123456789abcdef" },
      };
      await store.createRequest(newRequest("r2", { requester }), [{ ...created, requestId: "r2" }], T0);
      expect((await store.getRequest("r2"))!.requester).toEqual(requester);
      // Another store on the same database (another controller) sees it.
      expect((await (await another()).getRequest("r1"))?.id).toBe("r1");
    });

    it("moves a request once: compare-and-set transitions, racing across stores", async () => {
      await store.createRequest(newRequest("r1", { status: "approved" }), [], T0);
      const second = await another();
      const dispatched = { actor: "controller:c", event: "request.dispatched" as const, requestId: "r1" };
      const attempts = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? second : store).transitionRequest(
            {
              id: "r1",
              from: "approved",
              to: "dispatched",
              at: T0 + 1,
              set: { jti: `j${i}`.padEnd(22, "j"), kid: "k" },
            },
            [dispatched],
          ),
        ),
      );
      expect(attempts.filter(Boolean)).toHaveLength(1);
      const winner = attempts.indexOf(true);
      expect((await store.getRequest("r1"))!.jti).toBe(`j${winner}`.padEnd(22, "j"));
      expect((await store.listAudit()).filter((r) => r.event === "request.dispatched")).toHaveLength(1);

      expect(
        await store.transitionRequest({ id: "r1", from: "approved", to: "failed", at: T0 + 2 }, []),
      ).toBe(false);
      expect(
        await store.transitionRequest(
          { id: "r1", from: "dispatched", to: "completed", at: T0 + 3, set: { result: { ok: [1, "two"] } } },
          [{ actor: "controller:c", event: "request.completed", requestId: "r1" }],
        ),
      ).toBe(true);
      expect(await store.getRequest("r1")).toMatchObject({
        status: "completed",
        updatedAt: T0 + 3,
        kid: "k",
        result: { ok: [1, "two"] },
      });
      expect(
        await store.transitionRequest({ id: "missing", from: "pending", to: "expired", at: T0 }, []),
      ).toBe(false);
      expectLinearChain(await store.listAudit());
    });

    it("keeps the agent's signature with an inline result and with an artifact (issue 21)", async () => {
      await store.createRequest(newRequest("sig", { status: "approved" }), [], T0);
      await store.transitionRequest({ id: "sig", from: "approved", to: "dispatched", at: T0 }, []);
      await store.transitionRequest(
        {
          id: "sig",
          from: "dispatched",
          to: "completed",
          at: T0 + 1,
          set: { result: { pid: 7 }, answerSignature: "h.p.s" },
        },
        [],
      );
      expect(await store.getRequest("sig")).toMatchObject({ result: { pid: 7 }, answerSignature: "h.p.s" });
      expect((await store.listRequests({ limit: 5 }))[0]?.record.answerSignature).toBeUndefined();
      await store.createRequest(newRequest("sig2", { status: "approved", output: "stream" }), [], T0);
      await store.transitionRequest({ id: "sig2", from: "approved", to: "dispatched", at: T0 }, []);
      const signed = artifactOf("sig2", { agentSignature: "a.b.c", agentKey: "k".repeat(43) });
      expect(await store.registerArtifact(signed, {}, [])).toBe(true);
      expect(await store.getArtifact(signed.id)).toEqual(signed);
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

    it("attack (second pass) 1: an approval counts against the policy's count in force, raised, never lowered", async () => {
      await store.createRequest(newRequest("r-raise"), [], T0);
      const audit = () => [];
      // Filed needing 2 (newRequest); the policy now requires 3: the second approval does not approve.
      const add = (subject: string, at: number, required: number) =>
        store.addApproval({ requestId: "r-raise", subject, note: undefined, at, required }, audit);
      expect(await add("user:bob@example.com", T0 + 1, 3)).toMatchObject({ approved: false });
      expect(await add("user:erin@example.com", T0 + 2, 3)).toMatchObject({ count: 2, approved: false });
      expect((await store.getRequest("r-raise"))!.approvalsRequired).toBe(3);
      // A looser policy later does not lower it.
      expect(await add("user:fay@example.com", T0 + 3, 1)).toMatchObject({ count: 3, approved: true });
      expect((await store.getRequest("r-raise"))!.approvalsRequired).toBe(3);
    });

    it("counts distinct approvals and approves in the same transaction as the last one", async () => {
      await store.createRequest(newRequest("r1"), [], T0);
      const audit = ({ count, approved }: { count: number; approved: boolean }) => [
        { actor: "x", event: "request.approved" as const, requestId: "r1", details: { count, approved } },
      ];
      const approve = (subject: string, at: number, note?: string) =>
        store.addApproval({ requestId: "r1", subject, note, at }, audit);
      expect(await approve("user:bob@example.com", T0 + 1, "ok")).toEqual({
        kind: "added",
        count: 1,
        approved: false,
      });
      expect(await approve("user:bob@example.com", T0 + 2)).toEqual({ kind: "duplicate" });
      expect(await approve("user:erin@example.com", T0 + 3)).toEqual({
        kind: "added",
        count: 2,
        approved: true,
      });
      expect(await approve("user:fay@example.com", T0 + 4)).toEqual({
        kind: "not-pending",
        status: "approved",
      });
      expect(
        await store.addApproval(
          { requestId: "zz", subject: "user:fay@example.com", note: undefined, at: T0 },
          audit,
        ),
      ).toEqual({ kind: "not-found" });
      const request = (await store.getRequest("r1"))!;
      expect(request.status).toBe("approved");
      expect(request.updatedAt).toBe(T0 + 3);
      expect(request.approvals).toEqual([
        { subject: "user:bob@example.com", at: T0 + 1, note: "ok" },
        { subject: "user:erin@example.com", at: T0 + 3, note: undefined },
      ]);
      expect((await store.listAudit()).map((r) => r.details)).toEqual([
        { count: 1, approved: false },
        { count: 2, approved: true },
      ]);
    });

    it("counts approvers racing through two stores one after the other: exactly one approves", async () => {
      const second = await another();
      for (let round = 0; round < 10; round++) {
        const id = `race-${round}`;
        await store.createRequest(newRequest(id), [], T0);
        const outcomes = await Promise.all(
          ["user:bob@example.com", "user:erin@example.com", "user:fay@example.com"].map((subject, i) =>
            (i % 2 ? second : store).addApproval(
              { requestId: id, subject, note: undefined, at: T0 + i },
              (o) => [
                { actor: subject, event: "request.approved", requestId: id, details: { count: o.count } },
              ],
            ),
          ),
        );
        const added = outcomes.filter((o) => o.kind === "added");
        // Two approvals are needed: the first two in line are counted 1 and 2, the third finds it approved.
        expect(added.map((o) => o.count).sort()).toEqual([1, 2]);
        expect(added.filter((o) => o.approved)).toHaveLength(1);
        expect(outcomes.filter((o) => o.kind === "not-pending")).toHaveLength(1);
        expect((await store.getRequest(id))!.approvals).toHaveLength(2);
      }
      expectLinearChain(await store.listAudit());
    });

    it("lists newest first with a cursor, by status, and finds expired pending requests", async () => {
      for (const [i, id] of ["a", "b", "c", "d"].entries()) {
        await store.createRequest(
          newRequest(id, { expiresAt: T0 + i * 1000, status: id === "c" ? "approved" : "pending" }),
          [],
          T0,
        );
      }
      await store.addApproval(
        { requestId: "b", subject: "user:bob@example.com", note: "n", at: T0 + 5 },
        () => [],
      );
      const page1 = await store.listRequests({ limit: 2 });
      expect(page1.map((p) => p.record.id)).toEqual(["d", "c"]);
      const page2 = await store.listRequests({ limit: 2, before: page1.at(-1)!.cursor });
      expect(page2.map((p) => p.record.id)).toEqual(["b", "a"]);
      expect(page2[0]!.record.approvals).toEqual([
        { subject: "user:bob@example.com", at: T0 + 5, note: "n" },
      ]);
      expect(page2[1]!.record.approvals).toEqual([]);
      expect((await store.listRequests({ limit: 10, status: "approved" })).map((p) => p.record.id)).toEqual([
        "c",
      ]);
      expect((await store.listExpiredPending(T0 + 1000, 10)).map((r) => r.id)).toEqual(["a", "b"]);
      expect((await store.listExpiredPending(T0 + 1000, 1)).map((r) => r.id)).toEqual(["a"]);
      expect((await store.listByStatus("pending", 10)).map((r) => r.id)).toEqual(["a", "b", "d"]);
      expect((await store.listByStatus("approved", 10)).map((r) => r.id)).toEqual(["c"]);
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
      await expect(
        store.addApproval(
          { requestId: "r1", subject: "user:bob@example.com", note: undefined, at: T0 },
          () => [{ actor: "x", event: "request.approved", details: { bad: Number.POSITIVE_INFINITY } }],
        ),
      ).rejects.toThrow();
      expect((await store.getRequest("r1"))!.approvals).toEqual([]);
      await expect(store.createRequest(newRequest("r1"), [], T0)).rejects.toThrow(/UNIQUE|duplicate key/i);
      expect(await store.listAudit()).toHaveLength(1);
      // The store is still usable after a failed transaction.
      await store.createRequest(newRequest("r2"), [{ ...created, requestId: "r2" }], T0);
      expectLinearChain(await store.listAudit());
    });

    it("keeps the audit chain one line when stores append at the same time", async () => {
      const stores = [store, await another(), await another()];
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          stores[i % stores.length]!.appendAudit(
            [
              { actor: `controller:c${i % stores.length}`, event: "controller.started", details: { i } },
              {
                actor: `controller:c${i % stores.length}`,
                event: "controller.started",
                details: { i, part: 2 },
              },
            ],
            T0 + i,
          ),
        ),
      );
      const records = await store.listAudit();
      expect(records).toHaveLength(120);
      expectLinearChain(records);
      // The two records of one append are adjacent: an append is one step of the chain.
      for (let k = 0; k < records.length; k += 2) {
        expect(records[k + 1]!.details).toEqual({ ...records[k]!.details, part: 2 });
      }
      expect(await store.listAudit({ afterSeq: 118 })).toEqual(records.slice(118));
      expect(await store.listAudit({ afterSeq: 10, limit: 3 })).toEqual(records.slice(10, 13));
      expect(await store.appendAudit([], T0)).toEqual([]);
    });

    it("refuses to change or delete audit records and approvals", async () => {
      await store.createRequest(newRequest("r1"), [{ ...created, requestId: "r1" }], T0);
      await store.addApproval(
        { requestId: "r1", subject: "user:bob@example.com", note: undefined, at: T0 },
        () => [],
      );
      await expect(backend.exec("UPDATE audit SET actor = 'user:mallory@example.com'")).rejects.toThrow(
        /append-only/,
      );
      await expect(backend.exec("DELETE FROM audit")).rejects.toThrow(/append-only/);
      await expect(backend.exec("DELETE FROM approvals")).rejects.toThrow(/append-only/);
      await expect(backend.exec("UPDATE approvals SET note = 'x'")).rejects.toThrow(/append-only/);
      expect(await store.listAudit()).toHaveLength(1);
    });

    it("issues, reads and revokes a token once", async () => {
      const token: TokenRecord = {
        id: "tok1",
        subject: "svc:ci",
        groups: ["sre", "oncall"],
        secretHash: "cd".repeat(32),
        createdAt: T0,
        expiresAt: T0 + 8 * 3_600_000,
        revokedAt: undefined,
      };
      await store.insertToken(
        token,
        { actor: "local:root", event: "token.issued", details: { tokenId: "tok1" } },
        T0,
      );
      expect(await store.getToken("tok1")).toEqual(token);
      expect(await store.getToken("nope")).toBeUndefined();
      const revoked = { actor: "local:root", event: "token.revoked" as const, details: { tokenId: "tok1" } };
      expect(await store.revokeToken("tok1", T0 + 5, revoked)).toEqual({
        kind: "revoked",
        token: { ...token, revokedAt: T0 + 5 },
      });
      expect(await store.revokeToken("tok1", T0 + 9, revoked)).toEqual({
        kind: "already-revoked",
        token: { ...token, revokedAt: T0 + 5 },
      });
      expect(await store.revokeToken("nope", T0, revoked)).toEqual({ kind: "not-found" });
      expect((await store.listAudit()).map((r) => r.event)).toEqual(["token.issued", "token.revoked"]);
    });

    it("registers an artifact with its request's completion, lists and retires it once", async () => {
      await store.createRequest(newRequest("s1", { status: "approved", output: "stream" }), [], T0);
      const artifact = artifactOf("s1");
      const stored = [{ actor: "controller:c", event: "artifact.stored" as const, requestId: "s1" }];
      // Not dispatched yet: nothing is registered.
      expect(await store.registerArtifact(artifact, { bytes: 1 }, stored)).toBe(false);
      expect(await store.getArtifact(artifact.id)).toBeUndefined();
      await store.transitionRequest({ id: "s1", from: "approved", to: "dispatched", at: T0 + 1 }, []);
      expect(await store.registerArtifact(artifact, { bytes: 1 }, stored)).toBe(true);
      expect(await store.registerArtifact({ ...artifact, id: "art-again" }, {}, stored)).toBe(false);
      expect(await store.getArtifact(artifact.id)).toEqual(artifact);
      expect(await store.getRequest("s1")).toMatchObject({
        status: "completed",
        output: "stream",
        result: { bytes: 1 },
        artifactId: artifact.id,
        updatedAt: artifact.createdAt,
      });

      for (const [i, id] of ["s2", "s3"].entries()) {
        await store.createRequest(newRequest(id, { status: "dispatched", environment: "staging" }), [], T0);
        await store.registerArtifact(
          artifactOf(id, {
            environment: "staging",
            createdAt: T0 + 100 * (i + 1),
            digestSource: "agent-reported",
          }),
          {},
          [],
        );
      }
      const page1 = await store.listArtifacts({ limit: 2 });
      expect(page1.map((p) => p.record.id)).toEqual(["art-s3", "art-s2"]);
      const page2 = await store.listArtifacts({ limit: 2, before: page1.at(-1)!.cursor });
      expect(page2.map((p) => p.record.id)).toEqual(["art-s1"]);
      expect((await store.listExpiredArtifacts("staging", T0 + 201, 10)).map((a) => a.id)).toEqual([
        "art-s2",
        "art-s3",
      ]);
      expect((await store.listExpiredArtifacts("staging", T0 + 200, 10)).map((a) => a.id)).toEqual([
        "art-s2",
      ]);

      const deleted = [{ actor: "controller:c", event: "artifact.deleted" as const, requestId: "s2" }];
      expect(await store.markArtifactDeleted("art-s2", T0 + 500, deleted)).toBe(true);
      expect(await store.markArtifactDeleted("art-s2", T0 + 600, deleted)).toBe(false);
      expect((await store.getArtifact("art-s2"))!.deletedAt).toBe(T0 + 500);
      expect((await store.listExpiredArtifacts("staging", T0 + 1000, 10)).map((a) => a.id)).toEqual([
        "art-s3",
      ]);
      await expect(backend.exec("DELETE FROM artifacts")).rejects.toThrow(/kept/);
      expect((await store.listAudit()).map((r) => r.event)).toEqual(["artifact.stored", "artifact.deleted"]);
    });

    it("keeps data across reopening, migrates once when opened at the same time, refuses a newer schema", async () => {
      await store.createRequest(newRequest("r1"), [], T0);
      await store.close();
      // Several controllers starting together on one database.
      const opened = await Promise.all([backend.open(), backend.open(), backend.open()]);
      extra.push(...opened);
      for (const s of opened) expect((await s.getRequest("r1"))?.id).toBe("r1");
      await Promise.all(extra.splice(0).map((s) => s.close()));
      await backend.markNewer();
      await expect(backend.open()).rejects.toThrow(/newer than this controller knows/);
      // afterEach closes `store` again: closing twice is harmless.
    });
  });
}
