/**
 * Sustained load, with real processes on loopback:
 *
 * 1. signed `process-info` envelopes (a unique jti each) against one agent process for 60 s at a
 *    bounded rate: zero errors, p50/p99 printed, and the agent's RSS flat (the largest RSS of the
 *    last third at most 10% above the RSS right after warm-up, which lasts until the replay cache
 *    is at its steady size: one envelope TTL, 20 s, plus 5 s);
 * 2. the same against the controller's request API (`POST /v1/requests`, each one approved,
 *    signed, dispatched to the agent and recorded): zero errors, every request completed, RSS flat;
 * 3. the workload's own HTTP latency while the agent serves a steady load of light actions,
 *    against the same workload with the agent idle, in interleaved slices (medians; goal ≤ 1.10×).
 *
 * `npm run bench -- load`; KEYHOLE_LOAD_SECONDS shortens the 60 s runs. test/load/ runs a short,
 * generously bounded version of 3 in `npm test`.
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { createEmptyReplayLog } from "../agent/replay-log.js";
import { issueToken } from "../controller/identity/cli.js";
import { openStore } from "../controller/store/open-store.js";
import {
  type BenchResult,
  isListening,
  median,
  processInfoEnvelope,
  rssOf,
  type Started,
  startNode,
} from "./lib.js";

/** The repository root, whether this runs built (dist/bench/) or from source (tests). */
const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = HERE.endsWith("/dist/bench/") ? resolve(HERE, "../..") : resolve(HERE, "..");
const KEYHOLE_BIN = join(ROOT, "bin", "keyhole.js");

const AGENT_ID = "staging/shop/shop-0";

/** A workload, an agent pinned to a fresh staging key, and that key. */
export interface Stack {
  readonly dir: string;
  readonly workload: Started;
  readonly agent: Started;
  readonly agentUrl: string;
  readonly keyFile: string;
  readonly kid: string;
  readonly key: KeyObject;
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "keyhole-load-"));
  execFileSync(process.execPath, [
    KEYHOLE_BIN,
    "keys",
    "generate",
    "--out",
    join(dir, "keys"),
    "--environment",
    "staging",
  ]);
  const keyFile = join(dir, "keys", "signing-key.pem");
  const jwks = JSON.parse(readFileSync(join(dir, "keys", "jwks.json"), "utf8")) as {
    keys: { kid: string }[];
  };
  const workload = await startNode([join(ROOT, "examples", "workload.mjs")], isListening, {
    PATH: process.env.PATH,
    PORT: "0",
  });
  // An empty replay log, as a restarted container has: the keys above are new, so no earlier run
  // accepted anything and the agent need not refuse its first 30 s of envelopes.
  const stateDir = join(dir, "state");
  createEmptyReplayLog(stateDir, AGENT_ID);
  const agent = await startNode(
    [
      KEYHOLE_BIN,
      "agent",
      "--id",
      AGENT_ID,
      "--environment",
      "staging",
      "--trusted-keys",
      join(dir, "keys", "jwks.json"),
      "--listen",
      "127.0.0.1:0",
      "--target",
      String(workload.child.pid),
    ],
    isListening,
    { PATH: process.env.PATH, KEYHOLE_STATE_DIR: stateDir },
  );
  return {
    dir,
    workload,
    agent,
    agentUrl: String(agent.ready.url),
    keyFile,
    kid: jwks.keys[0]!.kid,
    key: createPrivateKey(readFileSync(keyFile)),
    stop: async () => {
      await Promise.all([agent.stop(), workload.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Envelope TTL: the agent's replay cache holds this many seconds of requests at most. */
const TTL_SECONDS = 20;

/** After this long the replay cache is at its steady size (entries expire as fast as they come). */
const warmUpFor = (seconds: number) => Math.min(TTL_SECONDS + 5, seconds / 2);

/** A fresh envelope (unique jti, a TTL of TTL_SECONDS). */
export function envelope(stack: Pick<Stack, "kid" | "key">): string {
  return processInfoEnvelope(stack, { aud: AGENT_ID, ttlSeconds: TTL_SECONDS });
}

interface LoadOutcome {
  readonly total: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** RSS samples of the server, one a second: [seconds since start, bytes]. */
  readonly rss: [number, number][];
}

/** Runs autocannon at a bounded rate for `seconds`, sampling `pid`'s RSS each second. */
async function sustained(options: {
  url: string;
  seconds: number;
  rate: number;
  pid: number;
  headers: Record<string, string>;
  body: () => string;
}): Promise<LoadOutcome> {
  const rss: [number, number][] = [];
  const started = performance.now();
  const sampler = setInterval(
    () => rss.push([(performance.now() - started) / 1000, rssOf(options.pid)]),
    1000,
  );
  try {
    const result = await autocannon({
      url: options.url,
      method: "POST",
      connections: 8,
      overallRate: options.rate,
      duration: options.seconds,
      headers: options.headers,
      requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: options.body() }) }],
    });
    return {
      total: result.requests.total,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      rss,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** RSS growth after warm-up: the largest sample of the last third over the median around `warmUpS`. */
function rssGrowth(
  rss: readonly [number, number][],
  warmUpS: number,
): { after: number; end: number; ratio: number } {
  const after = median(rss.filter(([t]) => t >= warmUpS && t < warmUpS + 3).map(([, b]) => b));
  const last = rss.filter(([t]) => t >= (rss.at(-1)?.[0] ?? 0) * (2 / 3)).map(([, b]) => b);
  const end = Math.max(...last);
  return { after, end, ratio: end / after };
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

function loadResults(
  name: string,
  o: LoadOutcome,
  seconds: number,
  rate: number,
  warmUpS: number,
  extra = "",
): BenchResult[] {
  const growth = rssGrowth(o.rss, warmUpS);
  return [
    {
      name: `${name}: errors over ${seconds} s at ${rate} req/s`,
      value: `${o.total} requests, ${o.errors} errors, ${o.non2xx} non-2xx; p50 ${o.p50} ms, p99 ${o.p99} ms`,
      reference: `${o.total} requests sent`,
      ratio: (o.errors + o.non2xx) / Math.max(1, o.total),
      goal: "0 errors",
      met: o.errors === 0 && o.non2xx === 0 && o.total > 0,
      ...(extra ? { extra } : {}),
    },
    {
      name: `${name}: RSS after warm-up vs at the end`,
      value: `${mb(growth.end)} (largest of the last third)`,
      reference: `${mb(growth.after)} at ${warmUpS}-${warmUpS + 3} s`,
      ratio: growth.ratio,
      goal: "≤ 1.10×",
      met: growth.ratio <= 1.1,
      extra: `RSS each second: ${o.rss.map(([, b]) => (b / 1024 / 1024).toFixed(0)).join(" ")} MB`,
    },
  ];
}

async function agentLoad(stack: Stack, seconds: number, rate: number): Promise<BenchResult[]> {
  const outcome = await sustained({
    url: `${stack.agentUrl}/v1/requests`,
    seconds,
    rate,
    pid: stack.agent.child.pid!,
    headers: { "content-type": "application/jwt" },
    body: () => envelope(stack),
  });
  return loadResults("agent process-info", outcome, seconds, rate, warmUpFor(seconds));
}

async function controllerLoad(stack: Stack, seconds: number, rate: number): Promise<BenchResult[]> {
  const dataDir = join(stack.dir, "controller");
  writeFileSync(
    join(stack.dir, "policy.yaml"),
    `environments:\n  staging: { approvals: 0, maxTtlSeconds: 60 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n`,
  );
  writeFileSync(
    join(stack.dir, "inventory.yaml"),
    `- { id: ${AGENT_ID}, environment: staging, url: "${stack.agentUrl}" }\n`,
  );
  const controller = await startNode(
    [
      KEYHOLE_BIN,
      "controller",
      "--data-dir",
      dataDir,
      "--policy",
      join(stack.dir, "policy.yaml"),
      "--inventory",
      join(stack.dir, "inventory.yaml"),
      "--signing-key",
      `staging=${stack.keyFile}`,
      "--listen",
      "127.0.0.1:0",
    ],
    isListening,
    // The per-subject limit on creation would refuse a load test from one subject by design.
    { PATH: process.env.PATH, KEYHOLE_RATE_LIMIT_PER_MINUTE: "0" },
  );
  try {
    const { token } = await issueToken({ dataDir, subject: "svc:load", groups: ["sre"] });
    const body = JSON.stringify({ action: "process-info", target: AGENT_ID, reason: "load test" });
    const outcome = await sustained({
      url: `${String(controller.ready.url)}/v1/requests`,
      seconds,
      rate,
      pid: controller.child.pid!,
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: () => body,
    });
    // Every created request must end completed: the dispatches finish shortly after the load.
    const store = await openStore({ kind: "sqlite", path: join(dataDir, "keyhole.db") });
    let statuses: Record<string, number> = {};
    try {
      for (let i = 0; i < 60; i++) {
        const rows = await store.listRequests({ limit: 1_000_000 });
        statuses = {};
        for (const { record } of rows) statuses[record.status] = (statuses[record.status] ?? 0) + 1;
        if (!statuses.approved && !statuses.dispatched) break;
        await sleep(500);
      }
    } finally {
      await store.close();
    }
    const completed = statuses.completed ?? 0;
    const results = loadResults(
      "controller POST /v1/requests (approved, signed, dispatched, recorded)",
      outcome,
      seconds,
      rate,
      warmUpFor(seconds),
      `end states: ${JSON.stringify(statuses)}`,
    );
    results[0] = {
      ...results[0]!,
      // autocannon counts only answers received within the duration; a few more may be in flight.
      met:
        results[0]!.met &&
        completed >= outcome.total &&
        Object.keys(statuses).every((status) => status === "completed"),
    };
    return results;
  } finally {
    await controller.stop();
  }
}

export interface LatencyComparison {
  /** Median workload latency with the agent idle, and while it serves the steady load (ms). */
  readonly idleP50: number;
  readonly loadedP50: number;
  readonly ratio: number;
  readonly idleSamples: number;
  readonly loadedSamples: number;
  /** Agent requests answered during the loaded slices, and how many failed. */
  readonly agentRequests: number;
  readonly agentErrors: number;
}

/** One keep-alive GET to the workload; resolves with its latency in ms. */
function timedGet(port: number, agent: Agent, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(performance.now() - started));
    });
    req.on("error", reject);
    req.end();
  });
}

function postEnvelope(url: URL, agent: Agent, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: "/v1/requests",
        method: "POST",
        agent,
        headers: { "content-type": "application/jwt" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * The workload's HTTP latency (a GET every `probeEveryMs`) in alternating slices: agent idle, then
 * the agent serving `agentRps` process-info requests of this workload, and so on, for `seconds`.
 * Interleaving puts both conditions under the same background noise.
 */
export async function compareWorkloadLatency(
  stack: Stack,
  options: { seconds: number; agentRps: number; sliceMs?: number; probeEveryMs?: number },
): Promise<LatencyComparison> {
  const sliceMs = options.sliceMs ?? 1000;
  const probeEveryMs = options.probeEveryMs ?? 5;
  const port = Number(stack.workload.ready.port);
  const agentUrl = new URL(stack.agentUrl);
  const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const loadAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  const idle: number[] = [];
  const loaded: number[] = [];
  let agentRequests = 0;
  let agentErrors = 0;
  const pending: Promise<unknown>[] = [];
  try {
    // Warm both paths up.
    for (let i = 0; i < 50; i++) await timedGet(port, probeAgent, `/orders?id=${i}`);
    for (let i = 0; i < 20; i++) await postEnvelope(agentUrl, loadAgent, envelope(stack));
    const slices = Math.max(2, Math.round((options.seconds * 1000) / sliceMs));
    for (let slice = 0; slice < slices; slice++) {
      const withLoad = slice % 2 === 1;
      const into = withLoad ? loaded : idle;
      const end = performance.now() + sliceMs;
      let nextProbe = performance.now();
      let nextLoad = performance.now();
      while (performance.now() < end) {
        const now = performance.now();
        if (withLoad && now >= nextLoad) {
          nextLoad += 1000 / options.agentRps;
          const body = envelope(stack);
          pending.push(
            postEnvelope(agentUrl, loadAgent, body).then(
              (status) => {
                agentRequests++;
                if (status !== 200) agentErrors++;
              },
              () => {
                agentErrors++;
              },
            ),
          );
        }
        if (now >= nextProbe) {
          nextProbe += probeEveryMs;
          into.push(await timedGet(port, probeAgent, `/orders?id=${slice}`));
        } else {
          await sleep(Math.max(0, Math.min(nextProbe, withLoad ? nextLoad : nextProbe) - performance.now()));
        }
      }
      // Let this slice's agent requests finish before an idle slice starts.
      await Promise.all(pending.splice(0));
    }
  } finally {
    probeAgent.destroy();
    loadAgent.destroy();
  }
  const idleP50 = median(idle);
  const loadedP50 = median(loaded);
  return {
    idleP50,
    loadedP50,
    ratio: loadedP50 / idleP50,
    idleSamples: idle.length,
    loadedSamples: loaded.length,
    agentRequests,
    agentErrors,
  };
}

export async function benchLoad(
  seconds = Number(process.env.KEYHOLE_LOAD_SECONDS ?? 60),
): Promise<BenchResult[]> {
  const stack = await startStack();
  try {
    const results = [...(await agentLoad(stack, seconds, 500))];
    results.push(...(await controllerLoad(stack, seconds, 100)));
    const latency = await compareWorkloadLatency(stack, { seconds: Math.min(seconds, 30), agentRps: 50 });
    results.push({
      name: "workload HTTP latency while the agent serves 50 process-info req/s, vs agent idle",
      value: `median ${latency.loadedP50.toFixed(3)} ms (${latency.loadedSamples} probes; ${latency.agentRequests} agent requests, ${latency.agentErrors} failed)`,
      reference: `median ${latency.idleP50.toFixed(3)} ms (${latency.idleSamples} probes)`,
      ratio: latency.ratio,
      goal: "≤ 1.10×",
      met: latency.ratio <= 1.1 && latency.agentErrors === 0,
      extra:
        "interleaved 1 s slices, idle and loaded alternating; a GET /orders every 5 ms on one keep-alive socket",
    });
    return results;
  } finally {
    await stack.stop();
  }
}
