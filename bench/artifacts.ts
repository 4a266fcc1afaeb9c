/**
 * Moving one large artifact agent → S3 (s3rver on loopback) in each output mode, against a plain
 * lib-storage upload of the same bytes in the same run (goal ≥ 0.8× its throughput), and the RSS
 * growth of the controller and of the agent while doing it (goal ≤ 100 MB each).
 *
 * Every party is its own process: s3rver (a child), the agent (bench/artifacts-agent.ts: the real
 * agent app with one byte-generating action) and the controller (the real `keyhole controller`,
 * configured with the --s3-* flags and credentials from AWS_* variables, as an operator runs it).
 * The bench process only runs the reference upload, files requests over HTTP and samples each
 * child's VmRSS every 50 ms. Rounds alternate reference, stream, s3; the ratios are per round and
 * the medians are reported; the RSS growth is the worst round's (peak during the move minus the
 * value just before it).
 *
 * `KEYHOLE_BENCH_ARTIFACT_MIB` sets the size (default 1024), `KEYHOLE_BENCH_ARTIFACT_ROUNDS` the
 * rounds (default 3).
 */
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateBucketCommand, DeleteObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { issueToken } from "../controller/identity/cli.js";
import { loadEnvironmentKeys } from "../controller/keys.js";
import { BENCH_AGENT_ID, generated } from "./artifacts-agent.js";
import { type BenchResult, isListening, KEYHOLE_BIN, median, rssOf, type Started, startNode } from "./lib.js";

/** CPU seconds (user + system) a live process has used so far. */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

const MIB = 1024 * 1024;
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const BUCKET = "bench";
/** The goal's 100 MB, in MiB. */
const RSS_GOAL_MIB = 100 / 1.048576;

async function startS3rverChild(dir: string): Promise<{ endpoint: string; child: ChildProcess }> {
  const script = join(dir, "s3rver-child.cjs");
  await writeFile(
    script,
    `const S3rver = require(${JSON.stringify(new URL(import.meta.resolve("s3rver")).pathname)});
new S3rver({ port: 0, address: "127.0.0.1", directory: ${JSON.stringify(join(dir, "s3"))}, silent: true })
  .run().then(({ port }) => process.send({ port }));`,
  );
  const child = fork(script, { stdio: "ignore" });
  const [message] = (await once(child, "message")) as [{ port: number }];
  return { endpoint: `http://127.0.0.1:${message.port}`, child };
}

interface Move {
  readonly mibPerSecond: number;
  /** CPU seconds per GiB moved, per process. */
  readonly cpu: Record<string, number>;
  readonly controllerGrowthMib: number;
  readonly agentGrowthMib: number;
}

/** Runs the bench. */
export async function benchArtifacts(
  sizeMib = Number(process.env.KEYHOLE_BENCH_ARTIFACT_MIB ?? 1024),
  rounds = Number(process.env.KEYHOLE_BENCH_ARTIFACT_ROUNDS ?? 3),
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
  let pair: Awaited<ReturnType<typeof startPair>> | undefined;
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    pair = await startPair(dir, endpoint, sizeMib, child.pid!);
    // Warm both paths up (module loading, JIT, connection pools) with a small artifact.
    for (const mode of ["stream", "s3"] as const) await pair.move(mode, 16 * MIB);

    const reference: number[] = [];
    const referenceCpu: Record<string, number>[] = [];
    const moves: Record<"stream" | "s3", Move[]> = { stream: [], s3: [] };
    for (let round = 0; round < rounds; round++) {
      const t0 = performance.now();
      const cpu0 = { uploader: process.cpuUsage(), s3rver: cpuSecondsOf(child.pid!) };
      await new Upload({
        client,
        params: { Bucket: BUCKET, Key: "reference", Body: generated(size) },
        partSize: 8 * MIB,
        queueSize: 4,
      }).done();
      reference.push(sizeMib / ((performance.now() - t0) / 1000));
      const used = process.cpuUsage(cpu0.uploader);
      referenceCpu.push({
        uploader: (used.user + used.system) / 1e6 / (sizeMib / 1024),
        s3rver: (cpuSecondsOf(child.pid!) - cpu0.s3rver) / (sizeMib / 1024),
      });
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "reference" }));
      for (const mode of ["stream", "s3"] as const) moves[mode].push(await pair.move(mode, size));
    }

    const results: BenchResult[] = [];
    const noise = `reference over ${rounds} rounds: ${reference.map((r) => r.toFixed(1)).join(", ")} MiB/s`;
    for (const mode of ["stream", "s3"] as const) {
      const ratios = moves[mode].map((m, i) => m.mibPerSecond / reference[i]!);
      const ratio = median(ratios);
      results.push({
        name: `artifact ${sizeMib} MiB agent → S3, output ${mode} (median of ${rounds} rounds)`,
        value: `${median(moves[mode].map((m) => m.mibPerSecond)).toFixed(1)} MiB/s`,
        reference: `${median(reference).toFixed(1)} MiB/s (plain lib-storage Upload, same bytes, same rounds)`,
        ratio,
        goal: "≥ 0.8×",
        met: ratio >= 0.8,
        extra: `per-round ratios ${ratios.map((r) => r.toFixed(2)).join(", ")}; ${noise}\n    CPU s/GiB (median): ${cpuLine(moves[mode].map((m) => m.cpu))}; reference: ${cpuLine(referenceCpu)}`,
      });
      for (const party of ["controller", "agent"] as const) {
        const growth = moves[mode].map((m) => (party === "agent" ? m.agentGrowthMib : m.controllerGrowthMib));
        const worst = Math.max(...growth);
        results.push({
          name: `RSS growth of the ${party} process moving ${sizeMib} MiB, output ${mode} (worst round)`,
          value: `${worst.toFixed(1)} MiB`,
          reference: "100 MB",
          ratio: worst / RSS_GOAL_MIB,
          goal: "≤ 1×",
          met: worst <= RSS_GOAL_MIB,
          extra: `per round: ${growth.map((g) => g.toFixed(1)).join(", ")} MiB`,
        });
      }
    }
    return results;
  } finally {
    await pair?.close();
    client.destroy();
    child.kill("SIGTERM");
    await once(child, "exit").catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

function cpuLine(samples: readonly Record<string, number>[]): string {
  return Object.keys(samples[0] ?? {})
    .map((name) => `${name} ${median(samples.map((s) => s[name]!)).toFixed(2)}`)
    .join(", ");
}

/** The agent and the controller as real processes, the controller storing into `endpoint`. */
async function startPair(dir: string, endpoint: string, sizeMib: number, s3rverPid: number) {
  const dataDir = join(dir, "data");
  await loadEnvironmentKeys({ dataDir, environments: ["staging"], explicit: [] });
  const jwksFile = join(dataDir, "keys", "staging", "jwks.json");
  await readFile(jwksFile); // fail early if the layout changed
  const started: Started[] = [];
  try {
    // KEYHOLE_BENCH_CPU_PROF=DIR writes a .cpuprofile of the agent and the controller at exit.
    const profile = process.env.KEYHOLE_BENCH_CPU_PROF
      ? ["--cpu-prof", "--cpu-prof-dir", process.env.KEYHOLE_BENCH_CPU_PROF]
      : [];
    const agent = await startNode(
      [
        ...profile,
        new URL("./artifacts-agent.js", import.meta.url).pathname,
        jwksFile,
        String(Math.floor(sizeMib * MIB)),
      ],
      isListening,
    );
    started.push(agent);
    await writeFile(
      join(dir, "policy.yaml"),
      `environments:\n  staging: { approvals: 0, maxTtlSeconds: 300 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n`,
    );
    await writeFile(
      join(dir, "inventory.yaml"),
      `- { id: ${BENCH_AGENT_ID}, environment: staging, url: "${agent.ready.url}" }\n`,
    );
    const { token } = await issueToken({ dataDir, subject: "user:bench@example.com", groups: ["sre"] });
    const controller = await startNode(
      [
        ...profile,
        KEYHOLE_BIN,
        "controller",
        "--data-dir",
        dataDir,
        "--policy",
        join(dir, "policy.yaml"),
        "--inventory",
        join(dir, "inventory.yaml"),
        "--listen",
        "127.0.0.1:0",
        "--s3-bucket",
        BUCKET,
        "--s3-endpoint",
        endpoint,
        "--s3-force-path-style",
        "--s3-region",
        "us-east-1",
        "--artifact-max-mib",
        String(Math.ceil(sizeMib) + 1),
      ],
      isListening,
      {
        PATH: process.env.PATH,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        KEYHOLE_DISPATCH_TIMEOUT_SECONDS: "600",
      },
    );
    started.push(controller);
    const url = String(controller.ready.url);
    const call = async (method: "GET" | "POST", path: string, body?: object) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return res.json() as Promise<Record<string, Record<string, unknown>>>;
    };
    const pids = { controller: controller.child.pid!, agent: agent.child.pid! };
    return {
      /** Moves `bytes` in `mode`; the time runs from filing the request to seeing it completed. */
      async move(mode: "stream" | "s3", bytes: number): Promise<Move> {
        const before = { controller: rssOf(pids.controller), agent: rssOf(pids.agent) };
        const peak = { ...before };
        const cpu0 = {
          controller: cpuSecondsOf(pids.controller),
          agent: cpuSecondsOf(pids.agent),
          s3rver: cpuSecondsOf(s3rverPid),
        };
        const sampler = setInterval(() => {
          peak.controller = Math.max(peak.controller, rssOf(pids.controller));
          peak.agent = Math.max(peak.agent, rssOf(pids.agent));
        }, 50);
        const t0 = performance.now();
        let request: Record<string, unknown>;
        try {
          const created = await call("POST", "/v1/requests", {
            // The bench agent's heap-snapshot streams the size it was started with.
            action: "heap-snapshot",
            target: BENCH_AGENT_ID,
            params: {},
            reason: "bench",
            output: mode,
          });
          const id = String(created.request?.id);
          do {
            await sleep(100); // polls cost the controller CPU too: not too often
            request = (await call("GET", `/v1/requests/${id}`)).request!;
          } while (!["completed", "failed"].includes(String(request.status)));
        } finally {
          clearInterval(sampler);
        }
        const seconds = (performance.now() - t0) / 1000;
        const gib = bytes / (1024 * MIB);
        const cpu = {
          controller: (cpuSecondsOf(pids.controller) - cpu0.controller) / gib,
          agent: (cpuSecondsOf(pids.agent) - cpu0.agent) / gib,
          s3rver: (cpuSecondsOf(s3rverPid) - cpu0.s3rver) / gib,
        };
        if (request.status !== "completed") throw new Error(`${mode}: ${JSON.stringify(request.error)}`);
        // Keep s3rver's disk small: the artifact has been counted.
        // The controller's key layout, <environment>/<request id>/<artifact id> (no --s3-prefix here):
        // the API does not show where an artifact is stored.
        const key = `staging/${String(request.id)}/${String(request.artifactId)}`;
        const s3 = new S3Client({
          region: "us-east-1",
          endpoint,
          forcePathStyle: true,
          credentials: CREDENTIALS,
        });
        await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
        s3.destroy();
        return {
          mibPerSecond: bytes / MIB / seconds,
          cpu,
          controllerGrowthMib: (peak.controller - before.controller) / MIB,
          agentGrowthMib: (peak.agent - before.agent) / MIB,
        };
      },
      async close() {
        for (const s of started.reverse()) await s.stop();
      },
    };
  } catch (err) {
    for (const s of started.reverse()) await s.stop();
    throw err;
  }
}
