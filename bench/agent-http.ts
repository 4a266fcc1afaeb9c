/**
 * The agent as a real process, serving signed `process-info` requests (unique jti each) over
 * loopback HTTP, against a Fastify hello-world in the same run (goal ≥ 0.5× its requests/s), and
 * the agent's idle RSS against a bare node:http server (goal ≤ 1.5×).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { CompactSign, exportJWK } from "jose";
import { REQUEST_ALG, REQUEST_TYP } from "../agent/protocol.js";
import { type BenchResult, isListening, KEYHOLE_BIN, ROOT, rssOf, startNode } from "./lib.js";

const AGENT_ID = "bench/shop/shop-0";

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, seconds: number, body?: () => string): Promise<Load> {
  const result = await autocannon({
    url,
    method: "POST",
    connections: 16,
    duration: seconds,
    headers: { "content-type": body ? "application/jwt" : "application/json" },
    ...(body
      ? {
          requests: [
            {
              setupRequest: (req: autocannon.Request) => ({ ...req, body: body() }),
            },
          ],
        }
      : { body: "{}" }),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function signedEnvelopes(
  count: number,
  kid: string,
  key: import("node:crypto").KeyObject,
): Promise<string[]> {
  const out: string[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < count; i++) {
    const claims = {
      iss: "keyhole-controller",
      sub: "svc:bench",
      aud: AGENT_ID,
      env: "staging",
      iat: now,
      exp: now + 300,
      jti: randomBytes(16).toString("base64url"),
      action: "process-info",
      params: {},
      reason: "bench: throughput",
      approvals: [],
      output: { mode: "inline" },
    };
    out.push(
      await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid })
        .sign(key),
    );
  }
  return out;
}

export async function benchAgentHttp(seconds = 8): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "keyhole-bench-"));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  writeFileSync(
    join(dir, "jwks.json"),
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench" }] }),
  );

  const workload = await startNode([`${ROOT}examples/workload.mjs`], isListening, {
    ...process.env,
    PORT: "0",
  });
  const agentArgs = [
    KEYHOLE_BIN,
    "agent",
    "--id",
    AGENT_ID,
    "--environment",
    "staging",
    "--trusted-keys",
    join(dir, "jwks.json"),
    "--listen",
    "127.0.0.1:0",
    "--target",
    String(workload.child.pid),
    "--replay-cache-size",
    "2000000",
  ];
  const agent = await startNode(agentArgs, isListening);
  const bare = await startNode([`${ROOT}dist/bench/bare-http.js`], isListening);
  try {
    // Idle RSS first, before any load has grown either heap.
    await sleep(2000);
    const agentRss = rssOf(agent.child.pid!);
    const bareRss = rssOf(bare.child.pid!);

    const hello = await startNode([`${ROOT}dist/bench/hello-fastify.js`], isListening);
    let helloLoad: Load;
    try {
      await load(`http://127.0.0.1:${hello.ready.port}/`, 2);
      helloLoad = await load(`http://127.0.0.1:${hello.ready.port}/`, seconds);
    } finally {
      await hello.stop();
    }

    // Enough distinct envelopes for warm-up and the timed run at well above the expected rate.
    const envelopes = await signedEnvelopes(
      Math.ceil(helloLoad.rps * (seconds + 2) * 0.8) + 1000,
      "bench",
      privateKey,
    );
    let next = 0;
    const take = () => {
      const jws = envelopes[next++];
      if (!jws) throw new Error("bench ran out of pre-signed envelopes");
      return jws;
    };
    await load(`${agent.ready.url}/v1/requests`, 2, take);
    const agentLoad = await load(`${agent.ready.url}/v1/requests`, seconds, take);
    if (agentLoad.errors > 0 || agentLoad.non2xx > 0) {
      throw new Error(`agent load had ${agentLoad.errors} errors and ${agentLoad.non2xx} non-2xx answers`);
    }

    const rpsRatio = agentLoad.rps / helloLoad.rps;
    const rssRatio = agentRss / bareRss;
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
    return [
      {
        name: "signed process-info requests/s through HTTP vs a Fastify hello-world",
        value: `${agentLoad.rps.toFixed(0)} req/s (p50 ${agentLoad.p50} ms, p99 ${agentLoad.p99} ms), 0 errors`,
        reference: `${helloLoad.rps.toFixed(0)} req/s (p50 ${helloLoad.p50} ms, p99 ${helloLoad.p99} ms)`,
        ratio: rpsRatio,
        goal: "≥ 0.5×",
        met: rpsRatio >= 0.5,
        extra: `16 connections, ${seconds} s each after a 2 s warm-up, loopback, autocannon in the bench process`,
      },
      {
        name: "agent idle RSS vs a bare node:http server",
        value: mb(agentRss),
        reference: mb(bareRss),
        ratio: rssRatio,
        goal: "≤ 1.5×",
        met: rssRatio <= 1.5,
      },
    ];
  } finally {
    await Promise.all([agent.stop(), bare.stop(), workload.stop()]);
  }
}
