/**
 * `heap-snapshot`: a V8 heap snapshot of a Node target, streamed through the agent as the target
 * serialises it (never whole in memory), its string values masked unless `redact: false`.
 *
 * Order of work: the target's lock (one inspector action per target; KH_BUSY) and the snapshot
 * cooldown (KH_RATE_LIMITED), the inspector session, the memory guard (KH_RESOURCE_GUARD) from
 * the used heap and the pod's cgroup, then `HeapProfiler.takeHeapSnapshot`. The session and lock
 * are released when the stream ends or is destroyed, whatever the reason.
 */
import { heapSnapshotParams } from "../../protocol/actions.js";
import { AgentError } from "../errors.js";
import { assertSnapshotHeadroom } from "../proc/memory-guard.js";
import { WITHHELD_MARKER } from "../redact/index.js";
import { JsonStringMasker } from "../runtimes/node/json-string-masker.js";
import { type InspectorOptions, InspectorSession } from "../runtimes/node/session.js";
import { SnapshotStream } from "../runtimes/node/snapshot-stream.js";
import { inspectorLocks, type TargetLocks } from "../runtimes/node/target-locks.js";
import { raceAbort } from "../runtimes/node/wait.js";
import { defineAction, StreamedResult } from "./types.js";

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
}

/** `20261126T120000Z`: a UTC timestamp that sorts and is safe in a file name. */
function fileTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
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
    description: "A V8 heap snapshot of a Node target, streamed, its strings masked unless redact is false.",
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
