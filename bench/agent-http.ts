/**
 * The agent as a real process, serving signed `process-info` requests (unique jti each) over
 * loopback HTTP, against a Fastify hello-world in the same run (goal ≥ 0.5× its requests/s) and
 * against a Fastify server that only verifies each envelope's signature (the ceiling for any
 * server that checks an Ed25519 signature per request); and the agent's idle RSS against a bare
 * node:http server (goal ≤ 1.5×).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { exportJWK } from "jose";
import {
  type BenchResult,
  isListening,
  KEYHOLE_BIN,
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
): Promise<Load> {
  const result = await autocannon({
    url,
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
) {
  await load(url, 2, body, contentType);
  const cpuBefore = cpuSecondsOf(server.child.pid!);
  const result = await load(url, seconds, body, contentType);
  const cpuPerRequestUs = ((cpuSecondsOf(server.child.pid!) - cpuBefore) / result.total) * 1e6;
  return { ...result, cpuPerRequestUs };
}

const fmt = (l: Load & { cpuPerRequestUs: number }) =>
  `${l.rps.toFixed(0)} req/s (p50 ${l.p50} ms, p99 ${l.p99} ms; ${l.cpuPerRequestUs.toFixed(0)} µs of server CPU per request)`;

export async function benchAgentHttp(seconds = 8): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "keyhole-bench-"));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench" }] }));

  const workload = await startNode([`${ROOT}examples/workload.mjs`], isListening, {
    ...process.env,
    PORT: "0",
  });
  const agent = await startNode(
    [
      KEYHOLE_BIN,
      "agent",
      "--id",
      AGENT_ID,
      "--environment",
      "staging",
      "--trusted-keys",
      jwks,
      "--listen",
      "127.0.0.1:0",
      "--target",
      String(workload.child.pid),
      "--replay-cache-size",
      "2000000",
    ],
    isListening,
  );
  const bare = await startNode([`${ROOT}dist/bench/bare-http.js`], isListening);
  try {
    await sleep(IDLE_SECONDS * 1000);
    const agentRss = rssOf(agent.child.pid!);
    const bareRss = rssOf(bare.child.pid!);
    await bare.stop();

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

    const agentLoad = await measure(agent, `${agent.ready.url}/v1/requests`, seconds, cycle(envelopes));
    if (agentLoad.errors > 0 || agentLoad.non2xx > 0) {
      throw new Error(`agent load had ${agentLoad.errors} errors and ${agentLoad.non2xx} non-2xx answers`);
    }

    const rpsRatio = agentLoad.rps / helloLoad.rps;
    const rssRatio = agentRss / bareRss;
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
        name: "agent idle RSS vs a bare node:http server",
        value: mb(agentRss),
        reference: mb(bareRss),
        ratio: rssRatio,
        goal: "≤ 1.5×",
        met: rssRatio <= 1.5,
        extra: `both measured after ${IDLE_SECONDS} s idle, once V8's memory reducer has run`,
      },
    ];
  } finally {
    await Promise.all([agent.stop(), bare.stop(), workload.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
