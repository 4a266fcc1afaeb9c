/**
 * The audit chain's cost.
 *
 * 1. Per request, through the real API: the same request (create over HTTP inject → policy → sign →
 *    dispatch to an agent on loopback → result stored) on two controllers in one process, one with
 *    the audit chain and its checkpoints, one whose store drops every audit entry (auditing off).
 *    Both use a real SQLite file with synchronous=FULL. Rounds alternate; ratio of the medians.
 *    Goal ≤ 1.2×.
 * 2. Verify speed over 1 000 000 records: the chain (with a signed checkpoint every 1000 records)
 *    is written to a real SQLite file, then verified from the database and from an export file, in
 *    records per second; the reference is SHA-256 alone over the same canonical bytes.
 */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { loadOrCreateAuditKey } from "../controller/audit/audit-key.js";
import { canonicalJson } from "../controller/audit/canonical-json.js";
import { chainRecord, GENESIS_HASH } from "../controller/audit/chain.js";
import { signCheckpoint } from "../controller/audit/checkpoint.js";
import { exportAudit, verifyAuditFile, verifyAuditStore } from "../controller/audit/cli.js";
import { loadControllerConfig } from "../controller/config.js";
import { issueToken } from "../controller/identity/cli.js";
import { type ControllerRuntime, createController } from "../controller/runtime.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import type { Store } from "../controller/store/types.js";
import { type BenchResult, median } from "./lib.js";

const POLICY = `environments:
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

/** Makes `store` drop every audit entry its callers hand it: the same writes, no chain. */
function withoutAudit(store: Store): void {
  const isAudit = (v: unknown) =>
    Array.isArray(v) && v.every((e) => typeof e === "object" && e !== null && "event" in e && "actor" in e);
  const target = store as unknown as Record<string, unknown>;
  for (const name of [
    "createRequest",
    "transitionRequest",
    "addApproval",
    "registerArtifact",
    "appendAudit",
    "markArtifactDeleted",
  ]) {
    const original = target[name] as (...args: unknown[]) => unknown;
    target[name] = (...args: unknown[]) =>
      original.apply(
        store,
        args.map((a) => (isAudit(a) ? [] : typeof a === "function" && name === "addApproval" ? () => [] : a)),
      );
  }
}

async function controllerAt(dir: string, agentUrl: string, audit: boolean) {
  const dataDir = join(dir, audit ? "on" : "off");
  await writeFile(join(dir, "policy.yaml"), POLICY);
  await writeFile(
    join(dir, "inventory.yaml"),
    `- { id: staging/bench/agent-0, environment: staging, url: "${agentUrl}" }\n`,
  );
  const controller = await createController(
    loadControllerConfig(
      // No per-subject rate limit: the bench sends thousands of requests as one subject.
      {
        dataDir,
        policy: join(dir, "policy.yaml"),
        inventory: join(dir, "inventory.yaml"),
        rateLimitPerMinute: 0,
      },
      {},
    ),
  );
  if (!audit) withoutAudit(controller.store);
  const token = (await issueToken({ dataDir, subject: "svc:bench", groups: ["sre"] })).token;
  return { controller, token };
}

async function oneRequest(c: { controller: ControllerRuntime; token: string }): Promise<void> {
  const res = await c.controller.app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { authorization: `Bearer ${c.token}` },
    payload: {
      action: "process-info",
      target: "staging/bench/agent-0",
      params: {},
      reason: "bench: audit cost",
    },
  });
  if (res.statusCode !== 201) throw new Error(`create answered ${res.statusCode}: ${res.body}`);
  await c.controller.dispatcher.whenIdle();
}

export async function benchAuditAppend(n = 200, rounds = 7): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-audit-"));
  // A minimal agent: the agent's own cost is not what is compared here.
  const agent = Fastify();
  agent.addContentTypeParser("application/jwt", { parseAs: "string" }, (_r, body, done) => done(null, body));
  agent.post("/v1/requests", async () => ({
    requestId: "x",
    agent: "staging/bench/agent-0",
    action: "process-info",
    startedAt: new Date().toISOString(),
    durationMs: 1,
    result: { pid: 42, rss: 123456789, heapUsed: 4567890 },
  }));
  await agent.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(agent.server.address() as AddressInfo).port}`;
  const on = await controllerAt(dir, url, true);
  const off = await controllerAt(dir, url, false);
  try {
    for (let i = 0; i < 30; i++) await Promise.all([oneRequest(on), oneRequest(off)]); // warm-up
    const times = { on: [] as number[], off: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const which of order) {
        const c = which === "on" ? on : off;
        const start = performance.now();
        for (let i = 0; i < n; i++) await oneRequest(c);
        times[which].push(((performance.now() - start) * 1000) / n);
      }
    }
    const records = (await on.controller.store.auditHead())?.seq ?? 0;
    const offRecords = (await off.controller.store.auditHead())?.seq ?? 0;
    const withAudit = median(times.on);
    const without = median(times.off);
    const ratio = withAudit / without;
    return {
      name: "audit: one request through the API with the audit chain vs auditing off (same run)",
      value: `${withAudit.toFixed(0)} µs/request with the chain (${records} records written, checkpoints signed)`,
      reference: `${without.toFixed(0)} µs/request with auditing off (${offRecords} records)`,
      ratio,
      goal: "≤ 1.2×",
      met: ratio <= 1.2,
      extra: `rounds ${rounds} × ${n} requests, medians; per round on/off µs: ${times.on.map((t) => t.toFixed(0)).join("/")} vs ${times.off.map((t) => t.toFixed(0)).join("/")}`,
    };
  } finally {
    await on.controller.close();
    await off.controller.close();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchAuditVerify(total = 1_000_000, checkpointEvery = 1000): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-verify-"));
  try {
    const store = openSqliteStore(join(dir, "keyhole.db"));
    const key = await loadOrCreateAuditKey(dir);
    const insert = store.db.prepare(
      `INSERT INTO audit (seq, time, actor, event, request_id, details, reason, ticket, prev_hash, hash)
       VALUES (@seq, @time, @actor, @event, @requestId, @details, @reason, @ticket, @prevHash, @hash)`,
    );
    const insertCp = store.db.prepare(
      "INSERT INTO audit_checkpoints (seq, hash, time, kid, signature) VALUES (@seq, @hash, @time, @kid, @signature)",
    );
    const events = [
      "request.created",
      "request.approved",
      "request.dispatched",
      "request.completed",
    ] as const;
    let prev = GENESIS_HASH;
    const at = Date.now() - total;
    const canonical: string[] = [];
    const writeStart = performance.now();
    const batch = store.db.transaction((from: number, to: number) => {
      for (let seq = from; seq < to; seq++) {
        const requestId = `req-${Math.floor(seq / 4)}`;
        const record = chainRecord(
          {
            actor: seq % 4 === 0 ? "user:alice@example.com" : "controller:bench",
            event: events[seq % 4]!,
            requestId,
            details: {
              action: "process-info",
              environment: "staging",
              target: "staging/shop/shop-0",
              n: seq,
            },
            ...(seq % 4 === 0 ? { reason: "bench: verify speed", ticket: "INC-1" } : {}),
          },
          seq,
          at + seq,
          prev,
        );
        insert.run({ ...record, details: canonicalJson(record.details) });
        if (canonical.length < 100_000) {
          const { hash: _h, ...rest } = record;
          canonical.push(canonicalJson(rest));
        }
        prev = record.hash;
        if (seq % checkpointEvery === 0) insertCp.run(signCheckpoint(key, record, at + seq));
      }
    });
    for (let from = 1; from <= total; from += 50_000) batch(from, Math.min(total + 1, from + 50_000));
    const writeSeconds = (performance.now() - writeStart) / 1000;
    await store.close();

    const liveStart = performance.now();
    // Pinned explicitly: without a pinned key a verification is never ok.
    const pinned = join(dir, "audit-jwks.json");
    const live = await verifyAuditStore({ dataDir: dir, key: pinned });
    const liveSeconds = (performance.now() - liveStart) / 1000;
    if (!live.ok || live.records !== total)
      throw new Error(`live verify failed: ${JSON.stringify(live.problem)}`);

    const file = join(dir, "audit.jsonl");
    const exportStart = performance.now();
    await exportAudit({ dataDir: dir, out: file });
    const exportSeconds = (performance.now() - exportStart) / 1000;
    const fileStart = performance.now();
    const exported = await verifyAuditFile({ file, dataDir: dir, key: pinned });
    const fileSeconds = (performance.now() - fileStart) / 1000;
    if (!exported.ok || exported.records !== total)
      throw new Error(`file verify failed: ${JSON.stringify(exported.problem)}`);

    // Reference: SHA-256 alone over the same canonical bytes (a lower bound for any verifier).
    const { createHash } = await import("node:crypto");
    const hashStart = performance.now();
    for (let i = 0; i < total; i++)
      createHash("sha256")
        .update(canonical[i % canonical.length]!)
        .digest("hex");
    const hashSeconds = (performance.now() - hashStart) / 1000;

    const rate = (s: number) => Math.round(total / s).toLocaleString("en-US");
    const size = (await stat(file)).size;
    return {
      name: `audit: verify ${total.toLocaleString("en-US")} records (checkpoint every ${checkpointEvery})`,
      value: `${rate(liveSeconds)} records/s from SQLite (${liveSeconds.toFixed(1)} s); ${rate(fileSeconds)} records/s from a ${(size / 1e6).toFixed(0)} MB export (${fileSeconds.toFixed(1)} s)`,
      reference: `${rate(hashSeconds)} hashes/s: SHA-256 alone over the same canonical bytes (${hashSeconds.toFixed(1)} s)`,
      ratio: liveSeconds / hashSeconds,
      goal: "printed (records/s; no goal)",
      met: true,
      extra: `writing the chain took ${writeSeconds.toFixed(1)} s, exporting it ${exportSeconds.toFixed(1)} s; ${live.checkpoints} checkpoints verified`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchAudit(): Promise<BenchResult[]> {
  return [await benchAuditAppend(), await benchAuditVerify()];
}
