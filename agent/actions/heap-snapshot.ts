/**
 * `heap-snapshot`: the target runtime's heap dump, streamed through the agent (never whole in
 * memory), its strings masked unless `redact: false`: a V8 heap snapshot of a Node target, an
 * HPROF of a JVM (below, and runtimes/jvm/heap-dump.ts).
 *
 * Order of work: the target's lock (one inspector action per target; KH_BUSY) and the snapshot
 * cooldown (KH_RATE_LIMITED), the inspector session, the memory guard (KH_RESOURCE_GUARD) from
 * the used heap and the pod's cgroup, then `HeapProfiler.takeHeapSnapshot`. The session and lock
 * are released when the stream ends or is destroyed, whatever the reason.
 */
import { heapSnapshotParams } from "../../protocol/actions.js";
import { AgentError } from "../errors.js";
import { assertSnapshotHeadroom } from "../proc/memory-guard.js";
import { detectRuntime } from "../proc/runtime-kind.js";
import { WITHHELD_MARKER } from "../redact/index.js";
import { dumpHeap, guardHeapDump, type HeapDumpOptions, hprofStream } from "../runtimes/jvm/heap-dump.js";
import { newHprofMaskStats } from "../runtimes/jvm/hprof-masker.js";
import { withAttach } from "../runtimes/jvm/session.js";
import { JsonStringMasker } from "../runtimes/node/json-string-masker.js";
import { type InspectorOptions, InspectorSession } from "../runtimes/node/session.js";
import { SnapshotStream } from "../runtimes/node/snapshot-stream.js";
import { inspectorLocks, type TargetLocks } from "../runtimes/node/target-locks.js";
import { raceAbort } from "../runtimes/node/wait.js";
import { fileTimestamp } from "./file-timestamp.js";
import { attachOptions, type JvmActionOptions, jvmLocks } from "./jvm-target.js";
import { type ActionContext, defineAction, StreamedResult } from "./types.js";

/** The least time between two snapshots of the same target: each one stalls it for seconds. */
export const HEAP_SNAPSHOT_COOLDOWN_MS = 30_000;

/** What a heap-snapshot action is built with; tests shorten the cooldown. */
export interface HeapSnapshotOptions {
  readonly cooldownMs?: number;
  readonly locks?: TargetLocks;
  readonly inspector?: InspectorOptions;
  /** Bytes queued in the agent before the inspector socket is paused. */
  readonly queueBytes?: number;
  /** Added to twice the used heap by the memory guard. */
  readonly guardMarginBytes?: number;
  /** JVM targets: attach locks and timing, and (tests) the target's /tmp volume. */
  readonly jvm?: JvmActionOptions & { readonly volume?: HeapDumpOptions["volume"] };
}

/**
 * An HPROF of a JVM target: guard (free space in the target's /tmp, memory when it is a tmpfs),
 * GC.heap_dump into a file the agent named there, the file opened and unlinked, then streamed from
 * the descriptor with its string bytes masked in place. The attach session (and the target's lock)
 * is released once the file is taken; `done` runs when the stream closes.
 */
async function jvmHeapDump(
  redact: boolean,
  ctx: ActionContext,
  options: NonNullable<HeapSnapshotOptions["jvm"]>,
  done: () => void,
): Promise<StreamedResult> {
  const locks = jvmLocks(options);
  const { handle, size } = await withAttach(
    ctx.pid,
    ctx.log,
    ctx.signal,
    () => locks.acquire(ctx.pid, "heap-snapshot"),
    async (session) => {
      const guard = await guardHeapDump(session, ctx.signal, {
        procRoot: ctx.procRoot,
        cgroupRoot: ctx.cgroupRoot,
        unseen: ctx.memoryGuardUnseen ?? "refuse",
        ...(options.volume ? { volume: options.volume } : {}),
      });
      ctx.log.info({ pid: ctx.pid, ...guard }, "taking a JVM heap dump");
      return dumpHeap(session, ctx.signal, ctx.log, ctx.procRoot);
    },
    attachOptions(ctx, options),
  );
  const stats = newHprofMaskStats();
  const stream = hprofStream(
    handle,
    redact ? (text) => ctx.redactor.maskText(text) : undefined,
    stats,
    () => {
      if (redact) ctx.log.info({ pid: ctx.pid, bytes: size, ...stats }, "heap dump masked");
      done();
    },
  );
  const onAbort = () => stream.destroy(ctx.signal.reason as Error);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  stream.once("close", () => ctx.signal.removeEventListener("abort", onAbort));
  return new StreamedResult(
    stream,
    "application/octet-stream",
    `heap-${ctx.pid}-${fileTimestamp(new Date())}.hprof`,
  );
}

/** Builds the heap-snapshot action; `heapSnapshotAction` is the one with the defaults. */
export function createHeapSnapshotAction(options: HeapSnapshotOptions = {}) {
  const cooldownMs = options.cooldownMs ?? HEAP_SNAPSHOT_COOLDOWN_MS;
  const locks = options.locks ?? inspectorLocks;
  /** When the last snapshot of each pid ended. */
  const lastSnapshot = new Map<number, number>();

  const checkCooldown = (pid: number) => {
    const now = Date.now();
    for (const [p, at] of lastSnapshot) if (now - at >= cooldownMs) lastSnapshot.delete(p);
    const at = lastSnapshot.get(pid);
    if (at !== undefined) {
      const wait = Math.ceil((cooldownMs - (now - at)) / 1000);
      throw new AgentError(
        "KH_RATE_LIMITED",
        `a heap snapshot of process ${pid} was taken less than ${cooldownMs / 1000} s ago; retry in ${wait} s`,
      );
    }
  };

  return defineAction({
    name: "heap-snapshot",
    description:
      "The target's heap dump (V8 heap snapshot or HPROF), streamed, its strings masked unless redact is false.",
    params: heapSnapshotParams,
    outputs: ["stream"],
    limits: {
      // Until the last byte: a snapshot of a multi-GB heap takes minutes.
      timeoutMs: 10 * 60_000,
      maxConcurrency: 2,
      maxOutputBytes: 8 * 1024 ** 3,
    },
    async run(params, ctx): Promise<StreamedResult> {
      ctx.signal.throwIfAborted();
      checkCooldown(ctx.pid);
      if (detectRuntime(ctx.pid, ctx.procRoot).runtime === "jvm") {
        let dumped = false;
        try {
          const result = await jvmHeapDump(params.redact, ctx, options.jvm ?? {}, () => {});
          dumped = true;
          return result;
        } finally {
          // The pause is the JVM's, whether or not the stream gets far.
          if (dumped) lastSnapshot.set(ctx.pid, Date.now());
        }
      }
      const unlock = locks.acquire(ctx.pid, "heap-snapshot");
      let session: InspectorSession | undefined;
      let snapshotStarted = false;
      const release = async () => {
        await session?.release();
        if (snapshotStarted) lastSnapshot.set(ctx.pid, Date.now());
        unlock();
      };
      try {
        session = await InspectorSession.open(ctx.pid, ctx.log, ctx.signal, options.inspector);
        const client = session.client;
        const usage = await raceAbort(client.send<{ usedSize: number }>("Runtime.getHeapUsage"), ctx.signal);
        const verdict = assertSnapshotHeadroom(ctx.pid, usage.usedSize, {
          procRoot: ctx.procRoot,
          cgroupRoot: ctx.cgroupRoot,
          unseen: ctx.memoryGuardUnseen ?? "refuse",
          ...(options.guardMarginBytes !== undefined ? { marginBytes: options.guardMarginBytes } : {}),
        });
        const facts = { pid: ctx.pid, usedHeapBytes: usage.usedSize, guard: verdict.reason };
        // An unguarded snapshot (the operator's override) is logged louder than a guarded one.
        if (verdict.unguarded) ctx.log.warn(facts, "taking a heap snapshot without the memory guard");
        else ctx.log.info(facts, "taking a heap snapshot");

        const masker = params.redact
          ? new JsonStringMasker((value) => ctx.redactor.maskText(value), WITHHELD_MARKER)
          : undefined;
        const stream = new SnapshotStream({
          pause: () => client.pause(),
          resume: () => client.resume(),
          release,
          ...(masker ? { masker } : {}),
          ...(options.queueBytes !== undefined ? { queueBytes: options.queueBytes } : {}),
        });
        client.on("HeapProfiler.addHeapSnapshotChunk", (p) => stream.addChunk(String(p.chunk ?? "")));
        const onAbort = () => stream.destroy(ctx.signal.reason as Error);
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        stream.once("close", () => ctx.signal.removeEventListener("abort", onAbort));

        snapshotStarted = true;
        // Every chunk event precedes the command's reply on the connection.
        client.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false }).then(
          () => {
            if (masker)
              ctx.log.info(
                { strings: masker.valueCount, masked: masker.maskedCount },
                "heap snapshot masked",
              );
            return stream.finish();
          },
          (err: unknown) =>
            stream.destroy(
              new AgentError("KH_ACTION_FAILED", "the heap snapshot failed in the target", { cause: err }),
            ),
        );
        return new StreamedResult(
          stream,
          "application/json",
          `heap-${ctx.pid}-${fileTimestamp(new Date())}.heapsnapshot`,
        );
      } catch (err) {
        await release();
        throw err;
      }
    },
  });
}

export const heapSnapshotAction = createHeapSnapshotAction();
