/**
 * Tamper tests on the exported and the live audit chain, with a real controller writing a real
 * SQLite file: one changed byte, a deleted record, an inserted record, swapped records and a
 * truncated tail are each detected and the first affected record named. Through the real CLI for
 * the exit codes; through the same functions in-process for the many cases.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKeyhole } from "../../../cli/demo/processes.js";
import { canonicalJson } from "../../../controller/audit/canonical-json.js";
import { type AuditRecord, auditRecordHash } from "../../../controller/audit/chain.js";
import { verifyAuditFile, verifyAuditStore } from "../../../controller/audit/cli.js";
import { loadControllerConfig } from "../../../controller/config.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { createController } from "../../../controller/runtime.js";
import { startFakeAgent, TEST_POLICY } from "../controller/helpers.js";

let dir: string;
let dataDir: string;
let exported: string;
let tokenSecret: string;
const RECORDS_ADDED = 30;

async function startController() {
  const config = loadControllerConfig(
    {
      dataDir,
      policy: join(dir, "policy.yaml"),
      inventory: join(dir, "inventory.yaml"),
      listen: "127.0.0.1:0",
    },
    {},
  );
  return createController(config, { auditCheckpoints: { everyRecords: 7, pollMs: 20 } });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-audit-"));
  dataDir = join(dir, "data");
  const agent = await startFakeAgent({
    id: "staging/shop/shop-0",
    environment: "staging",
    jwksPath: () => join(dataDir, "keys", "staging", "jwks.json"),
  });
  await writeFile(join(dir, "policy.yaml"), TEST_POLICY);
  await writeFile(
    join(dir, "inventory.yaml"),
    `- { id: staging/shop/shop-0, environment: staging, url: "${agent.url}" }\n`,
  );
  // First run: a real request through the API (created, approved, dispatched, completed).
  let controller = await startController();
  tokenSecret = (await issueToken({ dataDir, subject: "user:alice@example.com", groups: ["sre"] })).token;
  const created = await controller.app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { authorization: `Bearer ${tokenSecret}` },
    payload: { action: "process-info", target: "staging/shop/shop-0", params: {}, reason: "audit test" },
  });
  expect(created.statusCode).toBe(201);
  await controller.dispatcher.whenIdle();
  await controller.close();
  // Second run on the same data dir: the chain continues; then many more records.
  controller = await startController();
  for (let i = 0; i < RECORDS_ADDED; i++) {
    await controller.store.appendAudit(
      [
        {
          actor: "user:bob@example.com",
          event: "request.refused",
          details: { n: i, action: "env" },
          reason: `r${i}`,
        },
      ],
      Date.now(),
    );
    await controller.checkpointer.tick();
  }
  await controller.close();
  await agent.close();
  exported = join(dir, "audit.jsonl");
  const run = await runKeyhole(
    ["audit", "export", "--out", exported, "--data-dir", dataDir, "--json"],
    { PATH: process.env.PATH },
    30_000,
  );
  expect(run.code, run.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lines(): Promise<string[]> {
  return (await readFile(exported, "utf8")).trimEnd().split("\n");
}
/** The index of the line holding record `seq`. */
function lineOf(all: string[], seq: number): number {
  return all.findIndex(
    (l) => l.startsWith("{") && !l.startsWith('{"') === false && JSON.parse(l).seq === seq,
  );
}
async function verifyLines(name: string, all: string[]) {
  const file = join(dir, `${name}.jsonl`);
  await writeFile(file, `${all.join("\n")}\n`);
  return verifyAuditFile({ file, dataDir });
}

describe("the chain across restarts", () => {
  it("stays one continuous chain and exports and verifies intact", async () => {
    const all = await lines();
    const records = all.map((l) => JSON.parse(l)).filter((v) => typeof v.seq === "number" && v.hash);
    expect(records.map((r: AuditRecord) => r.seq)).toEqual(records.map((_: unknown, i: number) => i + 1));
    expect(records.filter((r: AuditRecord) => r.event === "controller.started")).toHaveLength(2);
    expect(records.map((r: AuditRecord) => r.event)).toEqual(
      expect.arrayContaining([
        "token.issued",
        "request.created",
        "request.approved",
        "request.dispatched",
        "request.completed",
      ]),
    );
    // Pinned: the verifier names the key file (the data dir's copy, here).
    const key = join(dataDir, "audit-jwks.json");
    const result = await verifyAuditFile({ file: exported, dataDir, key });
    expect(result).toMatchObject({ ok: true, records: records.length, unsignedTail: 0 });
    expect(result.checkpoints).toBeGreaterThanOrEqual(5);
    const live = await verifyAuditStore({ dataDir, key });
    expect(live).toMatchObject({ ok: true, lastSeq: records.length, unsignedTail: 0 });
    // Unpinned, the same chain is consistent but never "ok".
    expect(await verifyAuditStore({ dataDir })).toMatchObject({
      ok: false,
      status: "unpinned",
      consistent: true,
    });

    const cli = await runKeyhole(
      ["audit", "verify", "--file", exported, "--data-dir", dataDir, "--key", key],
      { PATH: process.env.PATH },
      30_000,
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`^ok: ${records.length} records`));
  });

  it("never records a secret: no bearer token, no envelope, no result body", async () => {
    const text = await readFile(exported, "utf8");
    expect(text).not.toContain(tokenSecret);
    expect(text).not.toContain(tokenSecret.split("_").at(-1));
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/); // no JWS
    expect(text).not.toContain('"echo"'); // the fake agent's result body
    expect(text).toContain("resultSha256");
  });
});

describe("tampering with an exported chain", () => {
  it("names a changed byte", async () => {
    const all = await lines();
    const i = lineOf(all, 12);
    all[i] = all[i]!.replace('"r', '"R');
    const result = await verifyLines("changed", all);
    expect(result.problem).toMatchObject({ kind: "changed", seq: 12, where: `line ${i + 1}` });
  });

  it("names a deleted record", async () => {
    const all = await lines();
    all.splice(lineOf(all, 15), 1);
    const result = await verifyLines("deleted", all);
    expect(result.problem).toMatchObject({ kind: "deleted", seq: 15 });
    expect(result.problem?.message).toMatch(/record 15 is missing/);
  });

  it("names an inserted record, even one with a valid hash and link", async () => {
    const all = await lines();
    const before = JSON.parse(all[lineOf(all, 9)]!) as AuditRecord;
    const { hash: _h, ...fake } = {
      ...before,
      seq: 10,
      prevHash: before.hash,
      actor: "user:mallory@example.com",
    };
    const forged = { ...fake, hash: auditRecordHash(fake) };
    const at = lineOf(all, 10);
    all.splice(at, 0, canonicalJson(forged));
    const result = await verifyLines("inserted", all);
    expect(result.problem).toMatchObject({ kind: "inserted", seq: 10, where: `line ${at + 1}` });

    // The same insertion with every later record renumbered to make room.
    const renumbered = (await lines()).map((l) => {
      const v = JSON.parse(l);
      return typeof v.seq === "number" && v.seq >= 10 ? canonicalJson({ ...v, seq: v.seq + 1 }) : l;
    });
    renumbered.splice(lineOf(renumbered, 11), 0, canonicalJson(forged));
    const second = await verifyLines("inserted-renumbered", renumbered);
    expect(second.problem).toMatchObject({ kind: "inserted", seq: 10 });
  });

  it("names swapped records", async () => {
    const all = await lines();
    const a = lineOf(all, 20);
    const b = lineOf(all, 21);
    [all[a], all[b]] = [all[b]!, all[a]!];
    const result = await verifyLines("swapped", all);
    expect(result.problem).toMatchObject({ kind: "reordered", seq: 20 });
  });

  it("detects a truncated tail, with or without the checkpoint lines", async () => {
    const all = await lines();
    const last = JSON.parse(all.filter((l) => !l.startsWith('{"checkpoint"')).at(-1)!).seq as number;
    const cut = all.slice(0, lineOf(all, last - 2));
    const result = await verifyLines("truncated", cut);
    expect(result.problem).toMatchObject({ kind: "truncated", seq: last - 2 });
    // Dropping every checkpoint line too: the export header's signed head still says where it ended.
    const bare = cut.filter((l) => !l.startsWith('{"checkpoint"'));
    expect((await verifyLines("truncated-bare", bare)).problem).toMatchObject({
      kind: "truncated",
      seq: last - 2,
    });
    // And without the header, the file is no export at all.
    expect((await verifyLines("headless", bare.slice(1))).problem).toMatchObject({ kind: "malformed" });
  });

  it("detects a rewritten chain with every hash recomputed, and a forged checkpoint", async () => {
    const all = await lines();
    let prev: string | undefined;
    const rewritten = all.map((l) => {
      const v = JSON.parse(l);
      if (typeof v.seq !== "number") return l;
      let r = v as AuditRecord;
      if (r.seq === 5) r = { ...r, actor: "user:nobody@example.com" };
      if (prev && r.seq > 5) r = { ...r, prevHash: prev };
      if (r.seq >= 5) {
        const { hash: _h, ...rest } = r;
        r = { ...rest, hash: auditRecordHash(rest) };
      }
      prev = r.hash;
      return canonicalJson(r);
    });
    const result = await verifyLines("rewritten", rewritten);
    expect(result.problem?.kind).toBe("rewritten");
    expect(result.problem?.message).toMatch(/between records \d+ and \d+/);

    const forged = all.map((l) =>
      l.startsWith('{"checkpoint"')
        ? l.replace(/"signature":"(.)/, (_m, c) => `"signature":"${c === "A" ? "B" : "A"}`)
        : l,
    );
    expect((await verifyLines("forged", forged)).problem).toMatchObject({ kind: "bad-checkpoint" });
  });

  it("fails through the CLI with exit 1 and names the record", async () => {
    const all = await lines();
    all.splice(lineOf(all, 15), 1);
    const file = join(dir, "cli-deleted.jsonl");
    await writeFile(file, `${all.join("\n")}\n`);
    const run = await runKeyhole(
      ["audit", "verify", "--file", file, "--data-dir", dataDir],
      { PATH: process.env.PATH },
      30_000,
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/^keyhole: audit chain broken \(deleted\): record 15 is missing/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("tampering with the live chain", () => {
  /** A copy of the data dir whose database `tamper` edits with the append-only triggers dropped. */
  async function tampered(name: string, tamper: (db: Database.Database) => void): Promise<string> {
    const copy = join(dir, `live-${name}`);
    await mkdir(copy, { recursive: true });
    await copyFile(join(dataDir, "keyhole.db"), join(copy, "keyhole.db"));
    await copyFile(join(dataDir, "audit-jwks.json"), join(copy, "audit-jwks.json"));
    const db = new Database(join(copy, "keyhole.db"));
    db.exec(
      "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_checkpoints_no_delete;",
    );
    tamper(db);
    db.close();
    return copy;
  }
  const row = (db: Database.Database, seq: number) =>
    db.prepare("SELECT * FROM audit WHERE seq = ?").get(seq) as Record<string, unknown>;

  it("names a changed byte", async () => {
    const copy = await tampered("changed", (db) =>
      db
        .prepare("UPDATE audit SET reason = 'R3' WHERE seq = (SELECT seq FROM audit WHERE reason = 'r3')")
        .run(),
    );
    const result = await verifyAuditStore({ dataDir: copy });
    expect(result.problem?.kind).toBe("changed");
    const run = await runKeyhole(["audit", "verify", "--data-dir", copy], { PATH: process.env.PATH }, 30_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`record ${result.problem?.seq} \\(seq ${result.problem?.seq}\\) was changed`),
    );
  });

  it("names a deleted record", async () => {
    const copy = await tampered("deleted", (db) => db.prepare("DELETE FROM audit WHERE seq = 11").run());
    expect((await verifyAuditStore({ dataDir: copy })).problem).toMatchObject({ kind: "deleted", seq: 11 });
  });

  it("names an inserted record (the rest renumbered to make room)", async () => {
    const copy = await tampered("inserted", (db) => {
      // A determined attacker rebuilds the table without its UNIQUE and append-only guards.
      db.exec(
        "CREATE TABLE loose AS SELECT * FROM audit; DROP TABLE audit; ALTER TABLE loose RENAME TO audit;",
      );
      const max = (db.prepare("SELECT max(seq) AS m FROM audit").get() as { m: number }).m;
      const prev = row(db, 8);
      for (let seq = max; seq >= 9; seq--)
        db.prepare("UPDATE audit SET seq = seq + 1 WHERE seq = ?").run(seq);
      const fake = {
        seq: 9,
        time: String(prev.time),
        actor: "user:mallory@example.com",
        event: "token.revoked" as const,
        requestId: null,
        details: {},
        reason: null,
        ticket: null,
        prevHash: String(prev.hash),
      };
      db.prepare(
        "INSERT INTO audit (seq, time, actor, event, request_id, details, reason, ticket, prev_hash, hash) VALUES (?, ?, ?, ?, NULL, '{}', NULL, NULL, ?, ?)",
      ).run(9, fake.time, fake.actor, fake.event, fake.prevHash, auditRecordHash(fake));
    });
    expect((await verifyAuditStore({ dataDir: copy })).problem).toMatchObject({ kind: "inserted", seq: 9 });
  });

  it("names swapped records", async () => {
    const copy = await tampered("swapped", (db) => {
      const a = row(db, 18);
      const b = row(db, 19);
      db.prepare("DELETE FROM audit WHERE seq IN (18, 19)").run();
      const insert = db.prepare(
        "INSERT INTO audit (seq, time, actor, event, request_id, details, reason, ticket, prev_hash, hash) VALUES (@seq, @time, @actor, @event, @request_id, @details, @reason, @ticket, @prev_hash, @hash)",
      );
      insert.run({ ...b, seq: 18 });
      insert.run({ ...a, seq: 19 });
    });
    expect((await verifyAuditStore({ dataDir: copy })).problem).toMatchObject({ kind: "reordered", seq: 18 });
  });

  it("detects a truncated tail after the last signed checkpoint's coverage", async () => {
    let last = 0;
    const copy = await tampered("truncated", (db) => {
      last = (db.prepare("SELECT max(seq) AS m FROM audit").get() as { m: number }).m;
      db.prepare("DELETE FROM audit WHERE seq > ?").run(last - 3);
    });
    expect((await verifyAuditStore({ dataDir: copy })).problem).toMatchObject({
      kind: "truncated",
      seq: last - 2,
    });
  });
});
