/**
 * The SQLite store of two built checkouts, A/B in one process: same disk, same Node, rounds
 * alternating, medians. For a change to the store (e.g. the move from better-sqlite3 to node:sqlite,
 * docs/operations.md#the-sqlite-store), where separate `npm run bench` runs on a shared machine
 * differ by more than the change:
 *
 *   npm run build && node dist/bench/store-ab.js OLD_CHECKOUT NEW_CHECKOUT [FULL|OFF] [ROUNDS]
 *
 * Each checkout must be built (`npm ci` builds dist/) on the same Node. `OFF` sets
 * `synchronous = OFF` on both to compare CPU alone; `FULL` is as shipped. Prints JSON.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { NewCollection } from "../controller/store/fleet-types.js";
import type { NewRequest, Store } from "../controller/store/types.js";
import { median } from "./lib.js";

type Workload = (store: Store) => Promise<void>;

let seq = 0;
const request = (id: string, at: number, status: NewRequest["status"] = "approved"): NewRequest => ({
  id,
  status,
  subject: "user:alice@example.com",
  action: "process-info",
  target: `production/shop/${id}`,
  environment: "production",
  params: {},
  reason: "bench",
  ticket: "BENCH-1",
  approvalsRequired: 0,
  createdAt: at,
  expiresAt: at + 60_000,
});

const WORKLOADS: Record<string, Workload> = {
  /** 100 lifecycles as bench/store.ts writes them: 3 transactions and 4 audit records each. */
  async lifecycles(store) {
    for (let i = 0; i < 100; i++) {
      const id = `l${seq++}`;
      const at = Date.now();
      await store.createRequest(
        request(id, at),
        [
          { actor: "user:alice@example.com", event: "request.created", requestId: id },
          {
            actor: "controller:bench",
            event: "request.approved",
            requestId: id,
            details: { automatic: true },
          },
        ],
        at,
      );
      await store.transitionRequest(
        { id, from: "approved", to: "dispatched", at, set: { jti: `j-${id}`, kid: "k" } },
        [{ actor: "controller:bench", event: "request.dispatched", requestId: id }],
      );
      await store.transitionRequest(
        { id, from: "dispatched", to: "completed", at, set: { result: { pid: 42 } } },
        [{ actor: "controller:bench", event: "request.completed", requestId: id }],
      );
    }
  },
  /** A 500-target collection's group commits: created dispatched, then completed, 25 per batch. */
  async groupCommits(store) {
    const id = `c${seq++}`;
    const at = Date.now();
    const collection: NewCollection = {
      id,
      status: "running",
      subject: "user:alice@example.com",
      action: "process-info",
      selector: "app=bench",
      environment: "production",
      params: {},
      reason: "bench",
      ticket: undefined,
      output: "inline",
      targets: [],
      targetsDigest: "bench",
      maxConcurrency: 50,
      maxErrors: undefined,
      errorBudget: 0,
      approvalsRequired: 0,
      createdAt: at,
      expiresAt: at + 60_000,
      trigger: undefined,
    };
    await store.fleet.createCollection(collection, [{ actor: "u", event: "collection.created" }], at);
    const ids = Array.from({ length: 500 }, (_, i) => `${id}-${i}`);
    for (let b = 0; b < ids.length; b += 25) {
      await store.fleet.applyRequestBatch(
        ids.slice(b, b + 25).map((r) => ({
          kind: "create" as const,
          collectionId: id,
          request: request(r, at, "dispatched"),
          approvals: [],
          set: { jti: `j-${r}`, kid: "k" },
          audit: [{ actor: "controller:bench", event: "request.dispatched" as const, requestId: r }],
        })),
        at,
      );
    }
    for (let b = 0; b < ids.length; b += 25) {
      await store.fleet.applyRequestBatch(
        ids.slice(b, b + 25).map((r) => ({
          kind: "transition" as const,
          change: {
            id: r,
            from: "dispatched" as const,
            to: "completed" as const,
            set: { result: { pid: 1 } },
          },
          audit: [{ actor: "controller:bench", event: "request.completed" as const, requestId: r }],
        })),
        at,
      );
    }
  },
  /** 200 requests by id, 20 pages of 50, and up to 20 000 audit records read back. */
  async reads(store) {
    for (const { record } of await store.listRequests({ limit: 200 })) await store.getRequest(record.id);
    let before: number | undefined;
    for (let i = 0; i < 20; i++) before = (await store.listRequests({ limit: 50, before })).at(-1)?.cursor;
    await store.listAudit({ limit: 20_000 });
  },
};

async function open(checkout: string, path: string, synchronous: string): Promise<Store> {
  const module = await import(resolve(checkout, "dist/controller/store/sqlite-store.js"));
  const store = module.openSqliteStore(path);
  // better-sqlite3's Database has pragma(text); node:sqlite's SqliteDb has exec(text).
  const db = store.db as { exec?: (sql: string) => void; pragma?: (sql: string) => unknown };
  if (db.exec) db.exec(`PRAGMA synchronous = ${synchronous}`);
  else db.pragma!(`synchronous = ${synchronous}`);
  return store;
}

async function main(): Promise<void> {
  const [oldCheckout, newCheckout, synchronous = "FULL", roundsText = "9"] = process.argv.slice(2);
  if (!oldCheckout || !newCheckout || !/^(FULL|OFF)$/.test(synchronous)) {
    console.error("usage: node dist/bench/store-ab.js OLD_CHECKOUT NEW_CHECKOUT [FULL|OFF] [ROUNDS]");
    process.exit(2);
  }
  const rounds = Number(roundsText);
  const dir = await mkdtemp(join(tmpdir(), "keyhole-store-ab-"));
  const stores = {
    old: await open(oldCheckout, join(dir, "old.db"), synchronous),
    new: await open(newCheckout, join(dir, "new.db"), synchronous),
  };
  try {
    const results: Record<string, unknown> = { synchronous, rounds, node: process.version };
    for (const [name, workload] of Object.entries(WORKLOADS)) {
      const ms = { old: [] as number[], new: [] as number[] };
      await workload(stores.old); // warm-up
      await workload(stores.new);
      for (let round = 0; round < rounds; round++) {
        for (const which of round % 2 ? (["new", "old"] as const) : (["old", "new"] as const)) {
          const start = performance.now();
          await workload(stores[which]);
          ms[which].push(performance.now() - start);
        }
      }
      results[name] = {
        oldMs: Number(median(ms.old).toFixed(1)),
        newMs: Number(median(ms.new).toFixed(1)),
        newOverOld: Number((median(ms.new) / median(ms.old)).toFixed(2)),
      };
    }
    results.load = Number(loadavg()[0]!.toFixed(1));
    console.log(JSON.stringify(results));
  } finally {
    await stores.old.close();
    await stores.new.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
