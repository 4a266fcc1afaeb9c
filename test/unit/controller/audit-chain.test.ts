import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonicalJson } from "../../../controller/audit/canonical-json.js";
import {
  type AuditRecord,
  auditRecordHash,
  chainRecord,
  findBrokenLink,
  GENESIS_HASH,
} from "../../../controller/audit/chain.js";
import { openSqliteStore, type SqliteStore } from "../../../controller/store/sqlite-store.js";

describe("canonicalJson", () => {
  it("sorts keys at every depth, drops undefined members, keeps arrays in order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
    expect(canonicalJson(["é", null, true])).toBe('["é",null,true]');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
  });
});

describe("the audit hash chain", () => {
  const entries = [
    {
      actor: "user:a@b.c",
      event: "request.created" as const,
      requestId: "r1",
      details: { action: "env" },
      reason: "why",
      ticket: "T-1",
    },
    { actor: "controller:c", event: "request.expired" as const, requestId: "r1" },
  ];

  it("links each record to its predecessor by a SHA-256 over all its fields", () => {
    const first = chainRecord(entries[0]!, 1, Date.parse("2030-01-01T00:00:00Z"), GENESIS_HASH);
    const second = chainRecord(entries[1]!, 2, Date.parse("2030-01-01T00:00:01Z"), first.hash);
    expect(first).toMatchObject({
      seq: 1,
      time: "2030-01-01T00:00:00.000Z",
      prevHash: GENESIS_HASH,
      ticket: "T-1",
    });
    expect(second).toMatchObject({
      requestId: "r1",
      details: {},
      reason: null,
      ticket: null,
      prevHash: first.hash,
    });
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(findBrokenLink([first, second])).toBeUndefined();

    // Any change to any field, or a dropped or reordered record, is detected.
    const { hash: _, ...unhashed } = first;
    for (const change of [
      { actor: "user:x@b.c" },
      { details: { action: "heap-snapshot" } },
      { reason: "other" },
      { seq: 3 },
      { time: "2030-01-01T00:00:00.001Z" },
    ]) {
      expect(auditRecordHash({ ...unhashed, ...change })).not.toBe(first.hash);
      const tampered = { ...first, ...change } as AuditRecord;
      expect(findBrokenLink([tampered, second])).toBe(tampered);
    }
    expect(findBrokenLink([second])).toBe(second);
    expect(findBrokenLink([second, first], first.hash)).toBe(first);
  });

  describe("in SQLite", () => {
    let dir: string;
    let store: SqliteStore;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), "keyhole-audit-"));
      store = openSqliteStore(join(dir, "keyhole.db"));
    });
    afterEach(async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });

    it("appends records that re-hash identically when read back", async () => {
      const written = await store.appendAudit(entries, Date.now());
      await store.appendAudit(
        [{ actor: "controller:c", event: "controller.started", details: { n: 1.5, list: ["b", "a"] } }],
        Date.now(),
      );
      const read = await store.listAudit();
      expect(read.slice(0, 2)).toEqual(written);
      expect(read.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(read[0]!.prevHash).toBe(GENESIS_HASH);
      expect(findBrokenLink(read)).toBeUndefined();
      expect(await store.listAudit({ afterSeq: 1, limit: 1 })).toEqual([read[1]]);
    });

    it("refuses UPDATE and DELETE on audit records (append-only triggers)", async () => {
      await store.appendAudit(entries, Date.now());
      expect(() =>
        store.db.raw.prepare("UPDATE audit SET actor = 'user:mallory@evil.test' WHERE seq = 1").run(),
      ).toThrow(/append-only/);
      expect(() => store.db.raw.prepare("DELETE FROM audit WHERE seq = 2").run()).toThrow(/append-only/);
      expect(() => store.db.raw.prepare("DELETE FROM audit").run()).toThrow(/append-only/);
      expect(await store.listAudit()).toHaveLength(2);
      expect((await store.listAudit())[0]!.actor).toBe("user:a@b.c");
    });

    it("keeps the chain linear: a second link to the same predecessor is refused", async () => {
      const [first] = await store.appendAudit([entries[0]!], Date.now());
      const fork = chainRecord(entries[1]!, 5, Date.now(), first!.prevHash);
      expect(() =>
        store.db.raw
          .prepare(
            "INSERT INTO audit (seq, time, actor, event, request_id, details, reason, ticket, prev_hash, hash) VALUES (?, ?, ?, ?, ?, '{}', NULL, NULL, ?, ?)",
          )
          .run(fork.seq, fork.time, fork.actor, fork.event, fork.requestId, fork.prevHash, fork.hash),
      ).toThrow(/UNIQUE/);
    });

    it("continues the chain across two connections to the same file (CLI beside a running controller)", async () => {
      const other = openSqliteStore(join(dir, "keyhole.db"));
      try {
        await store.appendAudit([entries[0]!], Date.now());
        await other.appendAudit([entries[1]!], Date.now());
        await store.appendAudit([entries[0]!], Date.now());
        const all = await other.listAudit();
        expect(all.map((r) => r.seq)).toEqual([1, 2, 3]);
        expect(findBrokenLink(all)).toBeUndefined();
      } finally {
        await other.close();
      }
    });
  });
});
