/**
 * `npm run bench -- jvm`: the JVM actions against real JDK processes, each against the JDK's own
 * `jcmd` doing the same in the same run.
 *
 * 1. heap-snapshot of a JVM holding about 1 GiB of live heap (-Xms/-Xmx 1536m, HeapFiller.java: a
 *    third each strings, binary byte[] buffers, long[] and boxed objects): the action end to end
 *    (attach, guard, GC.heap_dump into the target's /tmp, the file streamed through the action
 *    runner's meter and SHA-256 to /dev/null, masked) vs `jcmd <pid> GC.heap_dump FILE` (goal
 *    ≤ 1.3× with redaction); the action without redaction too. The agent is this process: its RSS
 *    growth during the action, sampled every 20 ms, is the memory figure (goal ≤ 64 MB).
 * 2. The first thread-dump of a JVM whose attach listener is not started yet (the agent's SIGQUIT
 *    path) vs the first `jcmd <pid> Thread.print` of another fresh JVM (goal ≤ 1.5×), and the
 *    medians of later ones.
 * `jcmd` is a JVM itself: its figures include its own start, as an operator's would.
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, rmSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import pino from "pino";
import { createHeapSnapshotAction } from "../agent/actions/heap-snapshot.js";
import { createThreadDumpAction } from "../agent/actions/thread-dump.js";
import type { ActionDefinition } from "../agent/actions/types.js";
import { createRedactor } from "../agent/redact/index.js";
import { ActionRunner, RunningStream } from "../agent/run-action.js";
import { compiledWorkload } from "../test/helpers/jvm-target.js";
import { type BenchResult, median, ROOT, rssSampler } from "./lib.js";

const MB = 1024 * 1024;
const HEAP_MB = 1024;
const ROUNDS = 2;
const SECRET = "bench-S3cr3t-p4ssw0rd-91kd83";

interface Jvm {
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts `java … Main args…` and waits for its {"ready":true} line. */
async function startJava(classes: string, main: string, flags: string[], args: string[]): Promise<Jvm> {
  const child = spawn("java", [...flags, "-cp", classes, main, ...args], {
    env: { PATH: process.env.PATH ?? "", DB_PASSWORD: SECRET },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${main} not ready in 300 s`)), 300_000);
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      const json = JSON.parse(line) as { ready?: boolean; pid?: number };
      if (json.ready) {
        clearTimeout(timer);
        resolve(json.pid!);
      }
    });
    child.once("exit", (code) => reject(new Error(`${main} exited with ${code} before ready`)));
  });
  child.stdout.resume();
  return {
    pid,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await once(child, "exit");
    },
  };
}

function context(pid: number) {
  return {
    pid,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 3) }),
    log: pino({ level: "warn" }),
    procRoot: "/proc",
    cgroupRoot: "/sys/fs/cgroup",
    logRoots: [],
    outputMode: "stream" as const,
  };
}

/** The heap-snapshot action through the runner, drained to /dev/null. */
async function actionDump(
  runner: ActionRunner,
  action: ActionDefinition,
  pid: number,
  redact: boolean,
): Promise<{ ms: number; cpuMs: number; rssGrowth: number; bytes: number }> {
  const stopSampling = rssSampler();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const ctx = context(pid);
  ctx.redactor.remember(SECRET);
  const result = await runner.run(action, action.params.parse({ redact }), ctx, new AbortController().signal);
  if (!(result instanceof RunningStream)) throw new Error("heap-snapshot did not stream");
  await pipeline(result.stream, createWriteStream("/dev/null"));
  const outcome = await result.done;
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (outcome.error) throw outcome.error;
  return { ms, cpuMs: (used.user + used.system) / 1000, rssGrowth: stopSampling(), bytes: outcome.bytes };
}

/** `jcmd <pid> GC.heap_dump FILE`, the file deleted after. */
function jcmdDump(pid: number): { ms: number; bytes: number } {
  const file = `/tmp/keyhole-bench-${pid}-${Date.now()}.hprof`;
  const started = performance.now();
  execFileSync("jcmd", [String(pid), "GC.heap_dump", file], { stdio: "ignore" });
  const ms = performance.now() - started;
  const bytes = statSync(file).size;
  rmSync(file, { force: true });
  return { ms, bytes };
}

function jcmdThreadPrint(pid: number): number {
  const started = performance.now();
  execFileSync("jcmd", [String(pid), "Thread.print"], { stdio: "ignore", maxBuffer: 64 * MB });
  return performance.now() - started;
}

async function actionThreadDump(
  runner: ActionRunner,
  action: ActionDefinition,
  pid: number,
): Promise<number> {
  const started = performance.now();
  await runner.run(action, {}, { ...context(pid), outputMode: "inline" }, new AbortController().signal);
  return performance.now() - started;
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (v: number) => `${(v / MB).toFixed(1)} MB`;

export async function benchJvm(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const runner = new ActionRunner();

  // 2. First thread dumps, on fresh JVMs (small, so their start is quick).
  const holder = compiledWorkload(`${ROOT}test/fixtures/workloads/jvm/SecretHolder.java`);
  const small = ["-Xmx64m", "-XX:+UseSerialGC"];
  const threadDump = createThreadDumpAction() as ActionDefinition;
  const [a, b] = await Promise.all([
    startJava(holder, "SecretHolder", small, []),
    startJava(holder, "SecretHolder", small, []),
  ]);
  try {
    const firstAction = await actionThreadDump(runner, threadDump, a.pid);
    const firstJcmd = jcmdThreadPrint(b.pid);
    const laterAction: number[] = [];
    const laterJcmd: number[] = [];
    for (let i = 0; i < 5; i++) {
      laterAction.push(await actionThreadDump(runner, threadDump, a.pid));
      laterJcmd.push(jcmdThreadPrint(b.pid));
    }
    results.push({
      name: "thread-dump: the first (SIGQUIT starts the listener) vs the first jcmd Thread.print",
      value: `${firstAction.toFixed(0)} ms`,
      reference: `${firstJcmd.toFixed(0)} ms jcmd <pid> Thread.print on another fresh JVM`,
      ratio: firstAction / firstJcmd,
      goal: "≤ 1.5×",
      met: firstAction / firstJcmd <= 1.5,
      extra: `later ones: ${median(laterAction).toFixed(0)} ms vs ${median(laterJcmd).toFixed(0)} ms jcmd (medians of 5)`,
    });
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }

  // 1. Heap dumps of a 1 GiB heap.
  const filler = compiledWorkload(`${ROOT}test/fixtures/workloads/jvm/HeapFiller.java`);
  const big = await startJava(
    filler,
    "HeapFiller",
    ["-Xms1536m", "-Xmx1536m", "-XX:+UseParallelGC"],
    [String(HEAP_MB)],
  );
  try {
    const action = createHeapSnapshotAction({ cooldownMs: 0 }) as ActionDefinition;
    const jcmd: number[] = [];
    const raw: number[] = [];
    const masked: number[] = [];
    const cpuMasked: number[] = [];
    const rss: number[] = [];
    let bytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const j = jcmdDump(big.pid);
      jcmd.push(j.ms);
      bytes = j.bytes;
      const r = await actionDump(runner, action, big.pid, false);
      raw.push(r.ms);
      rss.push(r.rssGrowth);
      const m = await actionDump(runner, action, big.pid, true);
      masked.push(m.ms);
      cpuMasked.push(m.cpuMs);
      rss.push(m.rssGrowth);
    }
    const ref = median(jcmd);
    const size = `${(bytes / MB).toFixed(0)} MB HPROF of a ${HEAP_MB} MiB live heap`;
    results.push({
      name: "heap-snapshot of a JVM, redact on: action end to end vs jcmd GC.heap_dump to a file",
      value: `${fmt(median(masked))} (median of ${ROUNDS}; ${size})`,
      reference: `${fmt(ref)} jcmd <pid> GC.heap_dump FILE (median of ${ROUNDS})`,
      ratio: median(masked) / ref,
      goal: "≤ 1.3×",
      met: median(masked) / ref <= 1.3,
      extra: `agent CPU ${fmt(median(cpuMasked))}; agent RSS growth: ${mb(median(rss))} median, ${mb(Math.max(...rss))} max over raw and masked runs (goal ≤ 64 MB)`,
    });
    results.push({
      name: "heap-snapshot of a JVM, redact off: action end to end vs jcmd GC.heap_dump to a file",
      value: `${fmt(median(raw))} (median of ${ROUNDS})`,
      reference: `${fmt(ref)} jcmd <pid> GC.heap_dump FILE`,
      ratio: median(raw) / ref,
      goal: "≤ 1.3×",
      met: median(raw) / ref <= 1.3,
      extra: `agent RSS growth ≤ 64 MB: ${Math.max(...rss) <= 64 * MB ? "met" : "missed"} (${mb(Math.max(...rss))} max)`,
    });
  } finally {
    await big.stop();
  }
  return results;
}
