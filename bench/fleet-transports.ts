/**
 * Issue 20's figures, on both transports in one run: a `process-info` collection over 500 agents at
 * concurrency 50, first over HTTP, then over NATS (a real nats-server on loopback), with the same
 * controller code.
 *
 * - Controller CPU per target in the collection vs a bare reference measured in the same run on the
 *   same transport: sign one envelope, send it through the controller's transport seam
 *   (AgentTransports.send: node:http, or a NATS request), record one row (one INSERT in a SQLite file
 *   with the store's pragmas). Goal ≤ 2×.
 * - The collection's wall time vs its CPU floor: max(controller CPU, all processes' CPU ÷ cores),
 *   the nats-server's CPU counted on NATS. Goal ≤ 1.2×.
 * - Agent idle cost: one real `keyhole agent` process per transport, 20 s with no requests: RSS and
 *   CPU, NATS vs HTTP.
 *
 * Real parts: the controller with its SQLite file (synchronous=FULL), 500 agents of the agent's own
 * buildApp in 5 processes per transport, one real workload, nats-server from the machine.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { loadControllerConfig } from "../controller/config.js";
import type { InventoryAgent } from "../controller/inventory/load-inventory.js";
import { createController } from "../controller/runtime.js";
import { cpuSecondsOf, type Host, startHost } from "./fleet.js";
import {
  type BenchResult,
  benchPrincipal,
  isListening,
  KEYHOLE_BIN,
  median,
  processInfoEnvelope,
  ROOT,
  rssOf,
  startNode,
} from "./lib.js";

const AGENTS = 500;
const HOSTS = 5;
const CONCURRENCY = 50;
const RUNS = 3;
const IDLE_SECONDS = 20;
const CPUS = cpus().length;

type Transport = "http" | "nats";

interface Figures {
  readonly collectionMs: number;
  readonly controllerCpuPerTargetMs: number;
  readonly bareCpuPerTargetMs: number;
  readonly bareMs: number;
  readonly floorMs: number;
  /** The nats-server's and the agents' CPU per target in the median collection. */
  readonly natsCpuPerTargetMs: number;
  readonly agentCpuPerTargetMs: number;
  readonly failed: number;
  readonly firstError?: string | undefined;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/** The machine's nats-server on a free loopback port; resolves once it accepts clients. */
async function startNatsServer(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = "";
    child.stderr!.on("data", (c: Buffer) => {
      seen += c;
      if (seen.includes("Server is ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`nats-server exited ${code}: ${seen}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** Runs `task(i)` for i < n with at most `concurrency` at once. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

async function measure(
  transport: Transport,
  dir: string,
  workloadPid: number,
  nats: { url: string; pid: number },
): Promise<Figures> {
  const dataDir = join(dir, `data-${transport}`);
  const base = {
    dataDir,
    listen: "127.0.0.1:0",
    rateLimitPerMinute: 0,
    logLevel: "silent",
    nats: nats.url,
  };
  await (await createController(loadControllerConfig(base, {}), { watchPolicy: false })).close();
  const who = await benchPrincipal(dataDir);
  const jwks = join(dataDir, "keys", "staging", "jwks.json");
  const hosts: Host[] = [];
  let controller: Awaited<ReturnType<typeof createController>> | undefined;
  const db = new DatabaseSync(join(dir, `bare-${transport}.db`));
  let firstError: string | undefined;
  try {
    const started = await Promise.allSettled(
      Array.from({ length: HOSTS }, (_, h) =>
        startHost([
          `${ROOT}dist/bench/fleet-agents.js`,
          String(AGENTS / HOSTS),
          `${transport}${h}`,
          "staging",
          jwks,
          String(workloadPid),
          ...(transport === "nats" ? [nats.url] : []),
        ]),
      ),
    );
    for (const s of started) if (s.status === "fulfilled") hosts.push(s.value);
    const failure = started.find((s) => s.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const agents = hosts.flatMap((h) => h.ready.agents as { id: string; url: string }[]);
    await writeFile(
      join(dir, `inventory-${transport}.yaml`),
      agents
        .map(
          (a) =>
            `- { id: ${a.id}, environment: staging, ${transport === "nats" ? "transport: nats" : `url: "${a.url}"`}, labels: { app: bench } }\n`,
        )
        .join(""),
    );
    controller = await createController(
      loadControllerConfig({ ...base, inventory: join(dir, `inventory-${transport}.yaml`) }, {}),
      { watchPolicy: false },
    );
    const { dispatcher, store } = controller;
    const { collections } = controller.fleet;
    const key = controller.keys.get("staging")!;
    const signer = { kid: key.kid, key: key.privateKey };
    const targets: InventoryAgent[] = agents.map(
      (a) => controller!.fleet.registry.inventory.agents.get(a.id)!,
    );

    // The bare reference: sign, send through the transport seam, one INSERT; nothing else.
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("CREATE TABLE IF NOT EXISTS results (id TEXT PRIMARY KEY, body TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO results (id, body) VALUES (?, ?)");
    const bare = async (): Promise<{ ms: number; cpuMs: number; failed: number }> => {
      let failed = 0;
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      await pool(AGENTS, CONCURRENCY, async (i) => {
        const agent = targets[i]!;
        const jws = processInfoEnvelope(signer, { aud: agent.id, ttlSeconds: 60 });
        const jti = JSON.parse(Buffer.from(jws.split(".")[1]!, "base64url").toString()).jti as string;
        const outcome = await dispatcher.transports.send(agent, jws, {
          timeoutMs: 30_000,
          maxBytes: 1024 * 1024,
          expect: { jti, agent: agent.id },
        });
        if (!outcome.ok) {
          failed++;
          firstError ??= `bare: ${outcome.code} ${outcome.message}`;
        }
        insert.run(jti, JSON.stringify(outcome.ok ? outcome.result : outcome));
      });
      const ms = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      return { ms, cpuMs: (used.user + used.system) / 1000, failed };
    };
    const collection = async () => {
      const cpuBefore = hosts.map((h) => cpuSecondsOf(h.pid));
      const natsBefore = transport === "nats" ? cpuSecondsOf(nats.pid) : 0;
      const own = process.cpuUsage();
      const t0 = performance.now();
      const created = await collections.create(who, {
        action: "process-info",
        selector: "app=bench",
        params: {},
        reason: "bench: whole fleet",
        maxConcurrency: CONCURRENCY,
      });
      await collections.whenIdle();
      const ms = performance.now() - t0;
      const used = process.cpuUsage(own);
      const controllerCpuMs = (used.user + used.system) / 1000;
      const agentCpuMs = hosts.reduce((sum, h, i) => sum + (cpuSecondsOf(h.pid) - cpuBefore[i]!) * 1000, 0);
      const natsCpuMs = transport === "nats" ? (cpuSecondsOf(nats.pid) - natsBefore) * 1000 : 0;
      const done = await store.fleet.getCollection(created.id);
      if (done?.summary?.targets !== AGENTS) throw new Error(`collection ended ${done?.status}`);
      if (done.summary.failed > 0 && !firstError) {
        const failedOne = (await store.listByStatus("failed", 1))[0];
        firstError = `collection: ${failedOne?.error?.code} ${failedOne?.error?.message}`;
      }
      const floor = Math.max(controllerCpuMs, (controllerCpuMs + agentCpuMs + natsCpuMs) / CPUS);
      return { ms, controllerCpuMs, natsCpuMs, agentCpuMs, floor, failed: done.summary.failed };
    };

    await bare(); // warm up both paths
    await collection();
    const bares: { ms: number; cpuMs: number }[] = [];
    const runs: Awaited<ReturnType<typeof collection>>[] = [];
    let failed = 0;
    for (let r = 0; r < RUNS; r++) {
      const b = await bare();
      failed += b.failed;
      bares.push(b);
      const c = await collection();
      failed += c.failed;
      runs.push(c);
    }
    const mid = runs.find((r) => r.ms === median(runs.map((x) => x.ms))) ?? runs[0]!;
    return {
      collectionMs: mid.ms,
      controllerCpuPerTargetMs: median(runs.map((r) => r.controllerCpuMs)) / AGENTS,
      bareCpuPerTargetMs: median(bares.map((b) => b.cpuMs)) / AGENTS,
      bareMs: median(bares.map((b) => b.ms)),
      floorMs: mid.floor,
      natsCpuPerTargetMs: mid.natsCpuMs / AGENTS,
      agentCpuPerTargetMs: mid.agentCpuMs / AGENTS,
      failed,
      firstError,
    };
  } finally {
    await controller?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    db.close();
  }
}

/** One real agent process per transport, idle: its RSS and CPU over IDLE_SECONDS. */
async function idleAgents(
  dir: string,
  workloadPid: number,
  natsUrl: string,
): Promise<Record<Transport, { rssMib: number; cpuMs: number }>> {
  const jwks = join(dir, "data-http", "keys", "staging", "jwks.json");
  const out = {} as Record<Transport, { rssMib: number; cpuMs: number }>;
  for (const transport of ["http", "nats"] as const) {
    const agent = await startNode(
      [
        KEYHOLE_BIN,
        "agent",
        "--id",
        `staging/idle/${transport}`,
        "--environment",
        "staging",
        "--trusted-keys",
        jwks,
        "--target",
        String(workloadPid),
        ...(transport === "nats" ? ["--connect", natsUrl] : ["--listen", "127.0.0.1:0"]),
      ],
      (line) => line.msg === "listening" || line.msg === "connected",
      { PATH: process.env.PATH, KEYHOLE_STATE_DIR: join(dir, `state-${transport}`) },
    );
    try {
      await sleep(3000); // past start-up work
      const pid = agent.child.pid!;
      const cpu0 = cpuSecondsOf(pid);
      await sleep(IDLE_SECONDS * 1000);
      out[transport] = { rssMib: rssOf(pid) / 1024 / 1024, cpuMs: (cpuSecondsOf(pid) - cpu0) * 1000 };
    } finally {
      await agent.stop();
    }
  }
  return out;
}

export async function benchFleetTransports(): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-transports-"));
  const workload = await startNode([`${ROOT}examples/workload.mjs`], isListening, {
    PATH: process.env.PATH,
    PORT: "0",
  });
  const nats = await startNatsServer();
  try {
    const pid = Number(workload.ready.pid);
    const http = await measure("http", dir, pid, nats);
    const overNats = await measure("nats", dir, pid, nats);
    const idle = await idleAgents(dir, pid, nats.url);
    const cpuRatio = (f: Figures) => f.controllerCpuPerTargetMs / f.bareCpuPerTargetMs;
    const wallRatio = (f: Figures) => f.collectionMs / f.floorMs;
    const line = (name: string, f: Figures) =>
      `${name}: collection ${f.collectionMs.toFixed(0)} ms, controller CPU ${f.controllerCpuPerTargetMs.toFixed(3)} ms/target vs bare ${f.bareCpuPerTargetMs.toFixed(3)} ms/target (bare wall ${f.bareMs.toFixed(0)} ms) = ${cpuRatio(f).toFixed(2)}×; CPU floor ${f.floorMs.toFixed(0)} ms, wall ÷ floor = ${wallRatio(f).toFixed(2)}×; agents ${f.agentCpuPerTargetMs.toFixed(3)} ms/target, nats-server ${f.natsCpuPerTargetMs.toFixed(3)} ms/target; ${f.failed} failed${f.firstError ? ` (${f.firstError})` : ""}`;
    const worst = Math.max(cpuRatio(http), cpuRatio(overNats));
    const worstWall = Math.max(wallRatio(http), wallRatio(overNats));
    return {
      name: `process-info collection over ${AGENTS} agents at concurrency ${CONCURRENCY}, HTTP and NATS`,
      value: `controller CPU per target: HTTP ${http.controllerCpuPerTargetMs.toFixed(3)} ms, NATS ${overNats.controllerCpuPerTargetMs.toFixed(3)} ms`,
      reference: `bare sign + send + one row, same transport: HTTP ${http.bareCpuPerTargetMs.toFixed(3)} ms, NATS ${overNats.bareCpuPerTargetMs.toFixed(3)} ms`,
      ratio: worst,
      goal: "≤ 2× on both; wall ≤ 1.2× CPU floor on both",
      extra: [
        line("HTTP", http),
        line("NATS", overNats),
        `agent idle ${IDLE_SECONDS} s: HTTP RSS ${idle.http.rssMib.toFixed(1)} MiB CPU ${idle.http.cpuMs.toFixed(0)} ms; NATS RSS ${idle.nats.rssMib.toFixed(1)} MiB CPU ${idle.nats.cpuMs.toFixed(0)} ms (RSS ${(idle.nats.rssMib / idle.http.rssMib).toFixed(2)}× HTTP)`,
        `${CPUS} cores`,
      ].join("\n    "),
      met: worst <= 2 && worstWall <= 1.2 && http.failed + overNats.failed === 0,
    };
  } finally {
    await nats.stop();
    await workload.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
