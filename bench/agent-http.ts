/**
 * The agent as a real process, serving signed `process-info` requests (unique jti each) over
 * loopback HTTP, against a Fastify hello-world in the same run (goal ≥ 0.5× its requests/s) and
 * against a Fastify server that only verifies each envelope's signature (the ceiling for any
 * server that checks an Ed25519 signature per request; goal: the agent's CPU per request ≤ 3× that
 * server's); the agent's idle RSS against a bare node:http server (goal ≤ 1.25×); and the time
 * from spawning each to its first successful `GET /healthz` (goal ≤ 2×); and the same agent over
 * HTTPS with mutual TLS against itself over plain HTTP, per request with keep-alive (goal ≤ 1.15×).
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { exportJWK } from "jose";
import { createEmptyReplayLog } from "../agent/replay-log.js";
import { AGENT_NODE_OPTIONS, stageAgent } from "../deploy/agent-bundle.js";
import { issueCert, makeCa } from "../test/helpers/tls-certs.js";
import {
  type BenchResult,
  isListening,
  KEYHOLE_BIN,
  median,
  processInfoEnvelope,
  ROOT,
  rssOf,
  type Started,
  startNode,
} from "./lib.js";

const AGENT_ID = "bench/shop/shop-0";
/** V8's memory reducer shrinks the heap after ~8 s of low allocation; both processes get this long. */
const IDLE_SECONDS = 12;
const CONNECTIONS = 16;
/** Starts of each process for the start-to-ready figure, alternated so load drifts hit both alike. */
const START_ROUNDS = 7;
/** Alternating plain/TLS rounds for the cost of TLS per request, and their length. */
const TLS_ROUNDS = 5;
const TLS_ROUND_SECONDS = 4;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
}

async function load(
  url: string,
  seconds: number,
  body: () => string,
  contentType = "application/jwt",
  tlsOptions?: { cert: Buffer; key: Buffer },
): Promise<Load> {
  const result = await autocannon({
    url,
    // A client certificate for an agent with --client-ca (autocannon keeps each connection alive).
    ...(tlsOptions ? { tlsOptions } : {}),
    method: "POST",
    connections: CONNECTIONS,
    duration: seconds,
    headers: { "content-type": contentType },
    requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: body() }) }],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (USER_HZ = 100). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function cycle(items: readonly string[]): () => string {
  let next = 0;
  return () => {
    const item = items[next++];
    if (item === undefined) throw new Error("bench ran out of pre-signed envelopes");
    return item;
  };
}

async function measure(
  server: Started,
  url: string,
  seconds: number,
  body: () => string,
  contentType?: string,
  tlsOptions?: { cert: Buffer; key: Buffer },
) {
  await load(url, 2, body, contentType, tlsOptions);
  const cpuBefore = cpuSecondsOf(server.child.pid!);
  const result = await load(url, seconds, body, contentType, tlsOptions);
  const cpuPerRequestUs = ((cpuSecondsOf(server.child.pid!) - cpuBefore) / result.total) * 1e6;
  return { ...result, cpuPerRequestUs };
}

/** A port that was free a moment ago (the process under test binds it itself). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (typeof address !== "object" || !address) throw new Error("no port");
  return address.port;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path: "/healthz", agent: false }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode === 200));
    });
    req.once("error", () => resolve(false));
  });
}

/**
 * Milliseconds from spawning `node args…` (every `{PORT}` replaced by a free port) to its first
 * 200 answer to `GET /healthz`, polled every 2 ms; the process is stopped afterwards.
 */
async function startToReadyMs(args: readonly string[]): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    args.map((a) => a.replace("{PORT}", String(port))),
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = once(child, "exit");
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`exited with ${child.exitCode} before ready: ${args.join(" ")}`);
      if (await healthy(port)) return performance.now() - started;
      if (performance.now() - started > 15_000) throw new Error(`not ready in 15 s: ${args.join(" ")}`);
      await sleep(2);
    }
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

const range = (values: readonly number[], digits = 0) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

const fmt = (l: Load & { cpuPerRequestUs: number }) =>
  `${l.rps.toFixed(0)} req/s (p50 ${l.p50} ms, p99 ${l.p99} ms; ${l.cpuPerRequestUs.toFixed(0)} µs of server CPU per request)`;

/**
 * The agent to measure: by default the agent as its image ships it, staged by
 * deploy/agent-bundle.ts; `KEYHOLE_BENCH_AGENT=cli` runs the full CLI (bin/keyhole.js) instead, and
 * a path runs that script (another checkout's bin/keyhole.js, for a before/after in one bench).
 */
function agentEntryFromEnv(): string | undefined {
  const chosen = process.env.KEYHOLE_BENCH_AGENT;
  if (!chosen) return undefined;
  return chosen === "cli" ? KEYHOLE_BIN : chosen;
}

/** @param agentEntry the script that answers `keyhole agent …` (see agentEntryFromEnv) */
export async function benchAgentHttp(
  seconds = 8,
  agentEntry: string | undefined = agentEntryFromEnv(),
): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "keyhole-bench-"));
  const entry = agentEntry ?? (await stageAgent(join(dir, "agent-image"))).entry;
  // The staged agent runs with the node options its image gives it.
  const nodeOptions = entry.startsWith(dir) ? [...AGENT_NODE_OPTIONS] : [];
  const entryName = entry.startsWith(dir)
    ? `the agent image's ${[...nodeOptions, basename(entry)].join(" ")}`
    : entry.startsWith(ROOT)
      ? entry.slice(ROOT.length)
      : entry;
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench" }] }));

  const workload = await startNode([`${ROOT}examples/workload.mjs`], isListening, {
    ...process.env,
    PORT: "0",
  });
  const agentArgs = (listen: string) => [
    ...nodeOptions,
    entry,
    "agent",
    "--id",
    AGENT_ID,
    "--environment",
    "staging",
    "--trusted-keys",
    jwks,
    "--listen",
    listen,
    "--target",
    String(workload.child.pid),
    "--replay-cache-size",
    "2000000",
  ];
  const bareArgs = (port: string) => [`${ROOT}dist/bench/bare-http.js`, port];

  // Start to ready first, while nothing else of this bench runs.
  const agentStarts: number[] = [];
  const bareStarts: number[] = [];
  try {
    for (let round = 0; round < START_ROUNDS; round++) {
      bareStarts.push(await startToReadyMs(bareArgs("{PORT}")));
      agentStarts.push(await startToReadyMs(agentArgs("127.0.0.1:{PORT}")));
    }
  } catch (err) {
    await workload.stop();
    throw err;
  }

  // A state dir with an (empty) replay log, as a restarted container has: the key above is new, so
  // no earlier run accepted anything, and the agent need not refuse its first 30 s of envelopes.
  const stateDir = join(dir, "state");
  createEmptyReplayLog(stateDir, AGENT_ID);
  const agent = await startNode(agentArgs("127.0.0.1:0"), isListening, {
    ...process.env,
    KEYHOLE_STATE_DIR: stateDir,
  });
  const bare = await startNode(bareArgs("0"), isListening);
  let tlsAgent: Started | undefined;
  try {
    await sleep(IDLE_SECONDS * 1000);
    const agentRss = rssOf(agent.child.pid!);
    const bareRss = rssOf(bare.child.pid!);
    await bare.stop();
    // The same agent serving HTTPS with mutual TLS (issue 21), measured below with the same envelopes
    // and keep-alive connections as the controller's: the cost of TLS per request once the handshake
    // is paid. Started before the envelopes are signed: an agent refuses envelopes older than itself.
    const ca = makeCa(dir, "bench");
    const serving = issueCert(dir, ca, "agent", ["127.0.0.1"]);
    const client = issueCert(dir, ca, "client", ["keyhole-controller"]);
    const tlsStateDir = join(dir, "state-tls");
    createEmptyReplayLog(tlsStateDir, AGENT_ID);
    const tlsServer = await startNode(
      [
        ...agentArgs("127.0.0.1:0"),
        "--tls-cert",
        serving.cert,
        "--tls-key",
        serving.key,
        "--client-ca",
        ca.cert,
      ],
      isListening,
      { ...process.env, KEYHOLE_STATE_DIR: tlsStateDir },
    );
    tlsAgent = tlsServer;

    const hello = await startNode([`${ROOT}dist/bench/hello-fastify.js`], isListening);
    const helloLoad = await measure(
      hello,
      `http://127.0.0.1:${hello.ready.port}/`,
      seconds,
      () => "{}",
      "application/json",
    ).finally(() => hello.stop());

    // Enough distinct envelopes for each signed run (each reads the pool from its start): the
    // verify-only server has passed 4,000 req/s on a quiet machine, so room for 12,000.
    const envelopes = Array.from({ length: Math.ceil(12_000 * (seconds + 2)) }, () =>
      processInfoEnvelope({ kid: "bench", key: privateKey }, { aud: AGENT_ID, ttlSeconds: 300 }),
    );
    const verifyOnly = await startNode([`${ROOT}dist/bench/verify-only-server.js`, jwks], isListening);
    const verifyLoad = await measure(
      verifyOnly,
      `http://127.0.0.1:${verifyOnly.ready.port}/v1/requests`,
      seconds,
      cycle(envelopes),
    ).finally(() => verifyOnly.stop());

    const agentEnvelopes = cycle(envelopes);
    const agentLoad = await measure(agent, `${agent.ready.url}/v1/requests`, seconds, agentEnvelopes);
    if (agentLoad.errors > 0 || agentLoad.non2xx > 0) {
      throw new Error(`agent load had ${agentLoad.errors} errors and ${agentLoad.non2xx} non-2xx answers`);
    }

    // The same agent over mutual TLS (started above) against itself over plain HTTP, in alternating
    // rounds so that the load of a shared machine weighs on both alike; each round's envelopes are
    // new to the agent answering them.
    const tlsEnvelopes = cycle(envelopes);
    const clientCert = { cert: readFileSync(client.cert), key: readFileSync(client.key) };
    const rounds: { plain: Awaited<ReturnType<typeof measure>>; tls: Awaited<ReturnType<typeof measure>> }[] =
      [];
    try {
      for (let round = 0; round < TLS_ROUNDS; round++) {
        const plain = await measure(
          agent,
          `${agent.ready.url}/v1/requests`,
          TLS_ROUND_SECONDS,
          agentEnvelopes,
        );
        const tls = await measure(
          tlsServer,
          `${tlsServer.ready.url}/v1/requests`,
          TLS_ROUND_SECONDS,
          tlsEnvelopes,
          undefined,
          clientCert,
        );
        for (const [name, l] of [
          ["agent", plain],
          ["TLS agent", tls],
        ] as const)
          if (l.errors > 0 || l.non2xx > 0)
            throw new Error(`${name} load had ${l.errors} errors and ${l.non2xx} non-2xx answers`);
        rounds.push({ plain, tls });
      }
    } finally {
      await tlsServer.stop();
    }
    if (!String(tlsServer.ready.url).startsWith("https:"))
      throw new Error("the TLS agent does not serve https");
    const tlsTimeRatio = median(rounds.map((r) => r.plain.rps / r.tls.rps));
    const tlsCpuRatio = median(rounds.map((r) => r.tls.cpuPerRequestUs / r.plain.cpuPerRequestUs));
    const msPerRequest = (l: Load) => `${(1000 / l.rps).toFixed(2)}`;

    const rpsRatio = agentLoad.rps / helloLoad.rps;
    const rssRatio = agentRss / bareRss;
    const cpuRatio = agentLoad.cpuPerRequestUs / verifyLoad.cpuPerRequestUs;
    const startRatio = median(agentStarts) / median(bareStarts);
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
    return [
      {
        name: "signed process-info requests/s through HTTP vs a Fastify hello-world",
        value: `${fmt(agentLoad)}, 0 errors`,
        reference: `${fmt(helloLoad)}`,
        ratio: rpsRatio,
        goal: "≥ 0.5×",
        met: rpsRatio >= 0.5,
        extra: [
          `ceiling: Fastify + one bare Ed25519 crypto.verify per request: ${fmt(verifyLoad)};`,
          `    the agent reaches ${(agentLoad.rps / verifyLoad.rps).toFixed(2)}× of that ceiling (hello-world ÷ ceiling = ${(helloLoad.rps / verifyLoad.rps).toFixed(1)}×).`,
          `    ${CONNECTIONS} connections, ${seconds} s each after a 2 s warm-up, loopback, autocannon in the bench process`,
        ].join("\n"),
      },
      {
        name: "agent CPU per signed process-info vs the verify-only server's CPU per request",
        value: `${agentLoad.cpuPerRequestUs.toFixed(0)} µs`,
        reference: `${verifyLoad.cpuPerRequestUs.toFixed(0)} µs`,
        ratio: cpuRatio,
        goal: "≤ 3×",
        met: cpuRatio <= 3,
        extra: "user + system CPU of the server process over the measured run, ÷ requests answered",
      },
      {
        name: "time per signed process-info over HTTPS (mutual TLS, keep-alive) vs plain HTTP",
        value: `${rounds.map((r) => msPerRequest(r.tls)).join(", ")} ms per request`,
        reference: `${rounds.map((r) => msPerRequest(r.plain)).join(", ")} ms`,
        ratio: tlsTimeRatio,
        goal: "≤ 1.15×",
        met: tlsTimeRatio <= 1.15,
        extra: [
          `median of ${TLS_ROUNDS} alternating rounds of ${TLS_ROUND_SECONDS} s each (after a 2 s warm-up), ${CONNECTIONS} kept-alive connections;`,
          `    the agent's own CPU per request over TLS ÷ plain: ${rounds.map((r) => (r.tls.cpuPerRequestUs / r.plain.cpuPerRequestUs).toFixed(2)).join(", ")} (median ${tlsCpuRatio.toFixed(2)}×);`,
          "    EC P-256 certificates, TLS 1.3; the client (autocannon) runs in the bench process and pays its side of TLS there",
        ].join("\n"),
      },
      {
        name: "agent idle RSS vs a bare node:http server",
        value: mb(agentRss),
        reference: mb(bareRss),
        ratio: rssRatio,
        goal: "≤ 1.25×",
        met: rssRatio <= 1.25,
        extra: `both measured after ${IDLE_SECONDS} s idle, once V8's memory reducer has run; agent: ${entryName}`,
      },
      {
        name: "agent start to ready vs a bare node:http server",
        value: `median ${median(agentStarts).toFixed(0)} ms (${range(agentStarts)} ms)`,
        reference: `median ${median(bareStarts).toFixed(0)} ms (${range(bareStarts)} ms)`,
        ratio: startRatio,
        goal: "≤ 2×",
        met: startRatio <= 2,
        extra: `spawn to the first 200 from GET /healthz, ${START_ROUNDS} starts of each, alternated`,
      },
    ];
  } finally {
    await Promise.all([agent.stop(), bare.stop(), tlsAgent?.stop(), workload.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
