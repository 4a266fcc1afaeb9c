/**
 * A `process-info` collection over 500 agents at concurrency 50, against its ideal: 10 waves of the
 * single-target round trip measured in the same run (`keyhole run` to one agent: created,
 * dispatched, answered and recorded). Goal ≤ 1.2× that ideal.
 *
 * Real parts: the controller with its SQLite file on disk (synchronous=FULL, as shipped), 500 real
 * agent servers (the agent's buildApp, verifying every envelope) in 5 processes, one real workload
 * as every agent's target. The reference and the collection run in the same controller, alternately.
 *
 * It also prints the CPU floor: the controller's CPU for the collection (its work runs on one event
 * loop) or all processes' CPU divided by the cores, whichever is larger. No schedule finishes below
 * it, so "measured ÷ floor" tells waiting from work, and "floor ÷ ideal" says whether the goal can be
 * reached on this machine at all.
 *
 * Profiling: `node --cpu-prof dist/bench/run-all.js --child fleet` (with KEYHOLE_BENCH_RESULTS_FILE
 * set) profiles the controller and, through execArgv, every agent host.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { loadControllerConfig } from "../controller/config.js";
import { createController } from "../controller/runtime.js";
import { type BenchResult, benchPrincipal, isListening, median, ROOT, startNode } from "./lib.js";

const AGENTS = 500;
const HOSTS = 5;
const CONCURRENCY = 50;
const SINGLE_RUNS = 15;
const COLLECTION_RUNS = 3;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (USER_HZ = 100). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const CPUS = cpus().length;

interface Cost {
  readonly agentCpuMs: number;
  readonly controllerCpuMs: number;
  readonly commits: number;
  readonly items: number;
  readonly commitMs: number;
}

export interface Host {
  readonly pid: number;
  readonly ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts an agent host; it may take long on a busy machine (100 Fastify apps), so no 15 s limit. */
export async function startHost(args: string[]): Promise<Host> {
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await once(child, "exit");
  };
  const lines = createInterface({ input: child.stdout! });
  try {
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent host not ready in 180 s: ${args.join(" ")}`)),
        180_000,
      );
      lines.on("line", (line) => {
        if (!line.startsWith("{")) return;
        clearTimeout(timer);
        resolve(JSON.parse(line));
      });
      child.once("exit", (code) => reject(new Error(`agent host exited with ${code}`)));
    });
    child.stdout!.resume();
    return { pid: child.pid!, ready, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function benchFleet(): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-fleet-"));
  const workload = await startNode([`${ROOT}examples/workload.mjs`], isListening, {
    PATH: process.env.PATH,
    PORT: "0",
  });
  const hosts: Host[] = [];
  let controller: Awaited<ReturnType<typeof createController>> | undefined;
  try {
    const dataDir = join(dir, "data");
    // First start: writes the staging key and its JWKS, which the agents pin.
    const base = { dataDir, listen: "127.0.0.1:0", rateLimitPerMinute: 0, logLevel: "silent" };
    await (await createController(loadControllerConfig(base, {}), { watchPolicy: false })).close();
    // A token in the store: dispatch checks the requester's credential still exists.
    const WHO = await benchPrincipal(dataDir);
    const jwks = join(dataDir, "keys", "staging", "jwks.json");
    const started = await Promise.allSettled(
      Array.from({ length: HOSTS }, (_, h) =>
        startHost([
          `${ROOT}dist/bench/fleet-agents.js`,
          String(AGENTS / HOSTS),
          `h${h}`,
          "staging",
          jwks,
          String(workload.ready.pid),
        ]),
      ),
    );
    for (const s of started) if (s.status === "fulfilled") hosts.push(s.value);
    const failure = started.find((s) => s.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const agents = hosts.flatMap((h) => h.ready.agents as { id: string; url: string }[]);
    await writeFile(
      join(dir, "inventory.yaml"),
      agents
        .map((a) => `- { id: ${a.id}, environment: staging, url: "${a.url}", labels: { app: bench } }\n`)
        .join(""),
    );
    controller = await createController(
      loadControllerConfig({ ...base, inventory: join(dir, "inventory.yaml") }, {}),
      { watchPolicy: false },
    );
    const { requests, dispatcher, store } = controller;
    // Commits of the collection path, to tell waiting on the disk from waiting on the agents.
    let batches = 0;
    let batchedItems = 0;
    let batchMs = 0;
    const fleetStore = store.fleet;
    const applyBatch = fleetStore.applyRequestBatch.bind(fleetStore);
    fleetStore.applyRequestBatch = (items, at) => {
      batches++;
      batchedItems += items.length;
      // The SQLite store writes synchronously: this is event-loop time spent in the transaction.
      const started = performance.now();
      const applied = applyBatch(items, at);
      batchMs += performance.now() - started;
      return applied;
    };
    const { collections } = controller.fleet;

    const single = async (): Promise<number> => {
      const started = performance.now();
      const created = await requests.create(WHO, {
        action: "process-info",
        target: agents[0]!.id,
        params: {},
        reason: "bench: one target",
      });
      await dispatcher.whenIdle();
      const done = await store.getRequest(created.id);
      if (done?.status !== "completed")
        throw new Error(`single target ended ${done?.status}: ${done?.error?.message}`);
      return performance.now() - started;
    };
    const collection = async (): Promise<{ ms: number; failed: number; cost: Cost }> => {
      batches = 0;
      batchedItems = 0;
      batchMs = 0;
      const cpuBefore = hosts.map((h) => cpuSecondsOf(h.pid));
      const ownBefore = process.cpuUsage();
      const started = performance.now();
      const created = await collections.create(WHO, {
        action: "process-info",
        selector: "app=bench",
        params: {},
        reason: "bench: whole fleet",
        maxConcurrency: CONCURRENCY,
      });
      await collections.whenIdle();
      const ms = performance.now() - started;
      const own = process.cpuUsage(ownBefore);
      const cost = {
        agentCpuMs: hosts.reduce((sum, h, i) => sum + (cpuSecondsOf(h.pid) - cpuBefore[i]!) * 1000, 0),
        controllerCpuMs: (own.user + own.system) / 1000,
        commits: batches,
        items: batchedItems,
        commitMs: batchMs,
      };
      const done = await store.fleet.getCollection(created.id);
      if (done?.summary?.targets !== AGENTS) throw new Error(`collection ended ${done?.status}`);
      return { ms, failed: done.summary.failed, cost };
    };

    for (let i = 0; i < 3; i++) await single(); // warm up both paths
    await collection();
    const singles: number[] = [];
    const collectionsMs: number[] = [];
    const costs: Cost[] = [];
    let failed = 0;
    for (let round = 0; round < COLLECTION_RUNS; round++) {
      for (let i = 0; i < SINGLE_RUNS / COLLECTION_RUNS; i++) singles.push(await single());
      const run = await collection();
      collectionsMs.push(run.ms);
      costs.push(run.cost);
      failed += run.failed;
    }
    const roundTrip = median(singles);
    const ideal = (AGENTS / CONCURRENCY) * roundTrip;
    const measured = median(collectionsMs);
    const ratio = measured / ideal;
    // What the CPU alone allows: the controller's work runs on its one event loop, and agents and
    // controller together share the machine's cores. No schedule beats the larger of the two.
    const cost = costs[collectionsMs.indexOf(measured)] ?? costs.at(-1)!;
    const floor = Math.max(cost.controllerCpuMs, (cost.agentCpuMs + cost.controllerCpuMs) / CPUS);
    return {
      name: `process-info collection over ${AGENTS} agents at concurrency ${CONCURRENCY}`,
      value: `${measured.toFixed(0)} ms (median of ${COLLECTION_RUNS}: ${collectionsMs.map((m) => m.toFixed(0)).join(", ")}; ${failed} failed targets)`,
      reference: `10 × single-target round trip = ${ideal.toFixed(0)} ms (round trip median ${roundTrip.toFixed(1)} ms of ${singles.length}: ${Math.min(...singles).toFixed(1)}–${Math.max(...singles).toFixed(1)})`,
      ratio,
      goal: "≤ 1.2×",
      extra: [
        `median collection: CPU agents ${cost.agentCpuMs.toFixed(0)} ms, controller ${cost.controllerCpuMs.toFixed(0)} ms (${(cost.controllerCpuMs / AGENTS).toFixed(2)} ms per target) on ${CPUS} cores, load ${loadavg()[0]!.toFixed(1)}`,
        `CPU floor max(controller, all ÷ cores) = ${floor.toFixed(0)} ms = ${(floor / ideal).toFixed(1)}× the ideal; measured = ${(measured / floor).toFixed(2)}× the floor`,
        `${cost.commits} group commits for ${cost.items} writes, ${cost.commitMs.toFixed(0)} ms of event loop in SQLite`,
      ].join("\n    "),
      met: ratio <= 1.2 && failed === 0,
    };
  } finally {
    await controller?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await workload.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
