/**
 * The PostgreSQL store under two replicas: request lifecycles (create with its audit records,
 * approved → dispatched, dispatched → completed: three transactions, four audit records, every
 * append behind the chain lock) written through two stores on one database, 8 at a time, vs the
 * floor of the same number of one-statement transactions over the same pools (goal ≤ 4×: the chain
 * lock, the hashing and the extra statements may cost that much, no more). The SQLite store's rate
 * for the same lifecycles is printed beside it. Needs the test PostgreSQL (KEYHOLE_TEST_POSTGRES_URL,
 * default postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { findBrokenLink } from "../controller/audit/chain.js";
import { openPostgresStore } from "../controller/store/postgres-store.js";
import { openSqliteStore } from "../controller/store/sqlite-store.js";
import type { Store } from "../controller/store/types.js";
import { type BenchResult, median } from "./lib.js";

const BASE_URL = process.env.KEYHOLE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function lifecycle(store: Store, id: string): Promise<void> {
  const at = Date.now();
  await store.createRequest(
    {
      id,
      status: "approved",
      subject: "user:alice@example.com",
      action: "process-info",
      target: "production/shop/shop-0",
      environment: "production",
      params: {},
      reason: "bench",
      ticket: "BENCH-1",
      approvalsRequired: 0,
      createdAt: at,
      expiresAt: at + 60_000,
    },
    [
      { actor: "user:alice@example.com", event: "request.created", requestId: id },
      { actor: "controller:bench", event: "request.approved", requestId: id, details: { automatic: true } },
    ],
    at,
  );
  const jti = randomBytes(16).toString("base64url");
  if (
    !(await store.transitionRequest({ id, from: "approved", to: "dispatched", at, set: { jti, kid: "k" } }, [
      { actor: "controller:bench", event: "request.dispatched", requestId: id, details: { jti } },
    ]))
  )
    throw new Error("dispatch lost its compare-and-set with no one racing");
  await store.transitionRequest(
    { id, from: "dispatched", to: "completed", at, set: { result: { pid: 42, rss: 1234567 } } },
    [{ actor: "controller:bench", event: "request.completed", requestId: id }],
  );
}

/** Runs `total` jobs, `concurrency` at a time, spread over `workers`; returns the seconds taken. */
async function timed(total: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await job(next++);
    }),
  );
  return (performance.now() - start) / 1000;
}

export async function benchStore(n = 300, rounds = 5, concurrency = 8): Promise<BenchResult> {
  const schema = `kh_bench_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(BASE_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  const replicas = [await openPostgresStore(url.toString()), await openPostgresStore(url.toString())];
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-store-"));
  const sqlite = openSqliteStore(join(dir, "keyhole.db"));
  try {
    await replicas[0]!.pool.query("CREATE TABLE bench_floor (id TEXT PRIMARY KEY, at BIGINT NOT NULL)");
    await replicas[0]!.pool.query("CREATE TABLE bench_lock (id INTEGER PRIMARY KEY)");
    await replicas[0]!.pool.query("INSERT INTO bench_lock VALUES (1)");
    const storeTimes: number[] = [];
    const floorTimes: number[] = [];
    const freeTimes: number[] = [];
    const sqliteTimes: number[] = [];
    // A warm-up round (connections, plans, JIT) that is not counted.
    await timed(50, concurrency, (i) => lifecycle(replicas[i % 2]!, `warm-${i}`));
    for (let round = 0; round < rounds; round++) {
      storeTimes.push(await timed(n, concurrency, (i) => lifecycle(replicas[i % 2]!, `r${round}-${i}`)));
      // The floor: three committed one-row transactions per lifecycle over the same two pools, each
      // taking one shared lock row first (what any linear chain with durable commits must pay: one
      // commit at a time) …
      floorTimes.push(
        await timed(n, concurrency, async (i) => {
          const pool = replicas[i % 2]!.pool;
          for (let k = 0; k < 3; k++) {
            const client = await pool.connect();
            try {
              await client.query("BEGIN");
              await client.query("SELECT id FROM bench_lock WHERE id = 1 FOR UPDATE");
              await client.query("INSERT INTO bench_floor (id, at) VALUES ($1, $2)", [
                `f${round}-${i}-${k}`,
                i,
              ]);
              await client.query("COMMIT");
            } finally {
              client.release();
            }
          }
        }),
      );
      // … and, for scale, the same commits without the shared lock.
      freeTimes.push(
        await timed(n, concurrency, async (i) => {
          const pool = replicas[i % 2]!.pool;
          for (let k = 0; k < 3; k++) {
            await pool.query("INSERT INTO bench_floor (id, at) VALUES ($1, $2)", [`g${round}-${i}-${k}`, i]);
          }
        }),
      );
      sqliteTimes.push(await timed(n, 1, (i) => lifecycle(sqlite, `s${round}-${i}`)));
    }
    const audit = await replicas[1]!.listAudit();
    if (audit.length !== (rounds * n + 50) * 4 || findBrokenLink(audit))
      throw new Error(`the chain is not one line: ${audit.length} records`);
    const store = median(storeTimes);
    const floor = median(floorTimes);
    const perSecond = (s: number) => `${(n / s).toFixed(0)} lifecycles/s`;
    return {
      name: "store: PostgreSQL request lifecycles, two replicas, 8 at a time (chain intact)",
      value: `${perSecond(store)} (${((store / n / 3) * 1000).toFixed(2)} ms per transaction)`,
      reference: `${perSecond(floor)} of one-row commits behind one shared lock (${((floor / n / 3) * 1000).toFixed(2)} ms each)`,
      ratio: store / floor,
      goal: "≤ 2×",
      met: store / floor <= 2,
      extra: `without the shared lock: ${perSecond(median(freeTimes))}; SQLite store, one process: ${perSecond(median(sqliteTimes))}; store rounds ${storeTimes.map((t) => t.toFixed(2)).join("/")} s`,
    };
  } finally {
    await Promise.all(replicas.map((s) => s.close()));
    await sqlite.close();
    await rm(dir, { recursive: true, force: true });
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
