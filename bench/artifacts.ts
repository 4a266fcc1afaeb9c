/**
 * Moving one large artifact agent → S3 (s3rver on loopback) in each mode, against a plain
 * lib-storage upload of the same bytes in the same run (goal ≥ 0.8× its throughput), and the RSS
 * growth of the controller and the agent while doing it (goal ≤ 100 MB each).
 *
 * The agent and controller run in this process (the agent app listening on port 0, the controller
 * driven through inject()), so RSS is sampled for the one process and the growth is attributed to
 * both together: a conservative reading of "each". s3rver runs in a child process so its own
 * buffering is not counted. `KEYHOLE_BENCH_ARTIFACT_MIB` sets the size (default 1024).
 */
import { type ChildProcess, fork } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { type ActionDefinition, defineAction, StreamedResult } from "../agent/actions/types.js";
import { buildApp } from "../agent/app.js";
import { loadAgentConfig } from "../agent/config.js";
import { createRedactor } from "../agent/redact/index.js";
import { parseTrustedKeys } from "../agent/trusted-keys.js";
import { createS3Client } from "../controller/artifacts/s3-client.js";
import { openS3ArtifactStore } from "../controller/artifacts/s3-store.js";
import { loadControllerConfig } from "../controller/config.js";
import { issueToken } from "../controller/identity/cli.js";
import { loadEnvironmentKeys } from "../controller/keys.js";
import { createController } from "../controller/runtime.js";
import type { BenchResult } from "./lib.js";

const MIB = 1024 * 1024;
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/** `size` bytes in 1 MiB chunks of cheap, non-repeating-enough data, generated on the fly. */
function generated(size: number): Readable {
  const block = createHash("sha512").update("bench").digest();
  const chunk = Buffer.alloc(MIB);
  for (let i = 0; i < MIB; i += block.length) block.copy(chunk, i);
  let left = size;
  return Readable.from(
    (function* () {
      let n = 0;
      while (left > 0) {
        const out = Buffer.from(chunk.subarray(0, Math.min(MIB, left)));
        out.writeUInt32BE(n++, 0); // every chunk differs
        left -= out.length;
        yield out;
      }
    })(),
  );
}

async function startS3rverChild(dir: string): Promise<{ endpoint: string; child: ChildProcess }> {
  const script = join(dir, "s3rver-child.cjs");
  await writeFile(
    script,
    `const S3rver = require(${JSON.stringify(require_resolve("s3rver"))});
new S3rver({ port: 0, address: "127.0.0.1", directory: ${JSON.stringify(join(dir, "s3"))}, silent: true })
  .run().then(({ port }) => process.send({ port }));`,
  );
  const child = fork(script, { stdio: "ignore" });
  const [message] = (await once(child, "message")) as [{ port: number }];
  return { endpoint: `http://127.0.0.1:${message.port}`, child };
}

function require_resolve(name: string): string {
  return new URL(import.meta.resolve(name)).pathname;
}

/** Runs the bench; `sizeMib` defaults to KEYHOLE_BENCH_ARTIFACT_MIB or 1024. */
export async function benchArtifacts(
  sizeMib = Number(process.env.KEYHOLE_BENCH_ARTIFACT_MIB ?? 1024),
): Promise<BenchResult[]> {
  const size = Math.floor(sizeMib * MIB);
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-artifacts-"));
  const { endpoint, child } = await startS3rverChild(dir);
  const client = new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  await client.send(new CreateBucketCommand({ Bucket: "bench" }));
  try {
    // Reference: a plain lib-storage upload of the same bytes.
    let t0 = performance.now();
    await new Upload({
      client,
      params: { Bucket: "bench", Key: "reference", Body: generated(size) },
      partSize: 8 * MIB,
      queueSize: 4,
    }).done();
    const referenceMBs = size / MIB / ((performance.now() - t0) / 1000);

    const pair = await startPair(dir, endpoint, size);
    const results: BenchResult[] = [];
    try {
      for (const mode of ["stream", "s3"] as const) {
        global.gc?.();
        const rssBefore = process.memoryUsage().rss;
        let peak = rssBefore;
        const sampler = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage().rss);
        }, 50);
        t0 = performance.now();
        const request = await pair.run(mode);
        const seconds = (performance.now() - t0) / 1000;
        clearInterval(sampler);
        if (request.status !== "completed") throw new Error(`${mode}: ${JSON.stringify(request.error)}`);
        const mbs = size / MIB / seconds;
        const growthMb = (peak - rssBefore) / MIB;
        results.push({
          name: `artifact ${sizeMib} MiB agent → S3, output ${mode}`,
          value: `${mbs.toFixed(1)} MiB/s`,
          reference: `${referenceMBs.toFixed(1)} MiB/s (plain lib-storage Upload, same bytes)`,
          ratio: mbs / referenceMBs,
          goal: "≥ 0.8×",
          met: mbs / referenceMBs >= 0.8,
          extra: `RSS growth of agent + controller (one process): ${growthMb.toFixed(1)} MiB (goal ≤ 100 MB each)`,
        });
        results.push({
          name: `RSS growth moving ${sizeMib} MiB, output ${mode} (agent + controller together)`,
          value: `${growthMb.toFixed(1)} MiB`,
          reference: "100 MB",
          ratio: growthMb / (100 / 1.048576),
          goal: "≤ 1×",
          met: growthMb <= 100 / 1.048576,
        });
      }
    } finally {
      await pair.close();
    }
    return results;
  } finally {
    client.destroy();
    child.kill("SIGTERM");
    await once(child, "exit").catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** A real agent app (port 0) with one streaming action, and a real controller with the S3 store. */
async function startPair(dir: string, endpoint: string, size: number) {
  const dataDir = join(dir, "data");
  await loadEnvironmentKeys({ dataDir, environments: ["staging"], explicit: [] });
  const { readFile } = await import("node:fs/promises");
  const jwks = await readFile(join(dataDir, "keys", "staging", "jwks.json"), "utf8");
  const action = defineAction({
    name: "bench-bytes",
    description: "streams the bench's bytes",
    params: z.strictObject({}),
    outputs: ["stream"],
    limits: { timeoutMs: 30 * 60_000, maxConcurrency: 1, maxOutputBytes: size },
    run: async () => new StreamedResult(generated(size), "application/octet-stream", "bench.bin"),
  });
  const agent: FastifyInstance = buildApp(
    loadAgentConfig(
      {
        id: "staging/bench/agent-0",
        environment: "staging",
        trustedKeys: "unused",
        target: String(process.pid),
      },
      {},
    ),
    {
      trustedKeys: parseTrustedKeys(jwks, "controller jwks"),
      registry: new Map([["bench-bytes", action as ActionDefinition]]),
      redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 1) }),
      logger: false,
    },
  );
  const agentUrl = await agent.listen({ host: "127.0.0.1", port: 0 });
  await writeFile(
    join(dir, "policy.yaml"),
    `environments:\n  staging: { approvals: 0, maxTtlSeconds: 300 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n`,
  );
  await writeFile(
    join(dir, "inventory.yaml"),
    `- { id: staging/bench/agent-0, environment: staging, url: "${agentUrl}" }\n`,
  );
  const config = loadControllerConfig(
    {
      dataDir,
      policy: join(dir, "policy.yaml"),
      inventory: join(dir, "inventory.yaml"),
      listen: "127.0.0.1:0",
      dispatchTimeoutSeconds: 600,
      s3Bucket: "bench",
      s3Endpoint: endpoint,
      s3ForcePathStyle: true,
      s3Region: "us-east-1",
      artifactMaxMib: Math.ceil(size / MIB) + 1,
      logLevel: "silent",
    },
    {},
  );
  if (config.artifacts.kind !== "s3") throw new Error("expected the S3 store");
  const artifactStore = openS3ArtifactStore(
    config.artifacts,
    createS3Client(config.artifacts, { credentials: CREDENTIALS }),
  );
  // Reading back a gigabyte would measure S3 twice; the bench keeps the agent-reported digest above 64 MiB.
  const controller = await createController(config, { artifactStore });
  const { token } = await issueToken({ dataDir, subject: "user:bench@example.com", groups: ["sre"] });
  const call = async (method: "GET" | "POST", url: string, payload?: object) => {
    const res = await controller.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
    return JSON.parse(res.body);
  };
  return {
    async run(output: "stream" | "s3") {
      const created = await call("POST", "/v1/requests", {
        action: "bench-bytes",
        target: "staging/bench/agent-0",
        params: {},
        reason: "bench",
        output,
      });
      await controller.dispatcher.whenIdle();
      return (await call("GET", `/v1/requests/${created.request.id}`)).request;
    },
    async close() {
      await controller.close();
      await agent.close();
    },
  };
}
