/**
 * A heap dump of a JVM, as a stream: the guard (the dump is written in the target's /tmp, so its
 * free space is checked first, and its memory headroom when that /tmp is a tmpfs), GC.heap_dump
 * into a file the agent named, the file taken (opened, then unlinked at once) and streamed from
 * the descriptor, its string bytes masked in place unless `redact` is false.
 *
 * GC.heap_dump dumps live objects: it runs a full GC first, and the JVM is paused for the whole
 * dump (about a second per GiB of live heap on a fast disk).
 */
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import { AgentError } from "../../errors.js";
import { readCgroupChain } from "../../proc/cgroup-chain.js";
import { headroomVerdict, type UnseenPolicy } from "../../proc/memory-guard.js";
import type { AttachSession } from "./attach-session.js";
import { runWritingFile } from "./dump-file.js";
import { type HprofMaskStats, type MaskText, maskHprof } from "./hprof-masker.js";
import { Jcmd } from "./jcmd-commands.js";
import { newTargetFile, takeTargetFile, targetTmpVolume } from "./target-files.js";
import { parseHeapUsed } from "./vm-text.js";

/** An HPROF is about this many times the live heap (object headers grow to ids and lengths). */
export const HPROF_HEAP_FACTOR = 1.5;
export const HPROF_MARGIN_BYTES = 64 * 1024 * 1024;

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

export interface HeapDumpOptions {
  readonly procRoot: string;
  readonly cgroupRoot: string;
  readonly unseen: UnseenPolicy;
  /** Tests: pretend the target's /tmp has this much free. */
  readonly volume?: (pid: number) => Promise<{ freeBytes: number; totalBytes: number; inMemory: boolean }>;
}

/** What the guard decided, for the log. */
export interface DumpGuard {
  readonly usedHeapBytes: number | null;
  readonly neededBytes: number;
  readonly freeBytes: number;
  readonly inMemory: boolean;
}

/** Refuses (KH_RESOURCE_GUARD) a dump that would not fit; returns the figures otherwise. */
export async function guardHeapDump(
  session: AttachSession,
  signal: AbortSignal,
  options: HeapDumpOptions,
): Promise<DumpGuard> {
  const pid = session.pid;
  const usedHeapBytes = parseHeapUsed(await session.runOk(Jcmd.heapInfo(), signal));
  if (usedHeapBytes === null) {
    throw new AgentError(
      "KH_RESOURCE_GUARD",
      `heap dump refused: the JVM's GC.heap_info names no used heap, so the dump's size cannot be estimated`,
    );
  }
  const neededBytes = Math.ceil(usedHeapBytes * HPROF_HEAP_FACTOR + HPROF_MARGIN_BYTES);
  const volume = await (options.volume ?? ((p: number) => targetTmpVolume(p, options.procRoot)))(pid);
  const need = `a heap dump needs about ${mib(neededBytes)} in the target's /tmp (${HPROF_HEAP_FACTOR}× the ${mib(usedHeapBytes)} of used heap + ${mib(HPROF_MARGIN_BYTES)})`;
  if (volume.freeBytes < neededBytes) {
    throw new AgentError(
      "KH_RESOURCE_GUARD",
      `heap dump refused to protect the workload: ${need}; it has ${mib(volume.freeBytes)} free`,
    );
  }
  if (volume.inMemory) {
    // A tmpfs's pages are charged to the pod's memory: the dump must fit in its headroom too.
    const verdict = headroomVerdict(
      readCgroupChain(pid, { procRoot: options.procRoot, cgroupRoot: options.cgroupRoot }),
      neededBytes,
      `${need}, and that /tmp is in memory`,
      options.unseen,
    );
    if (!verdict.allowed) {
      throw new AgentError(
        "KH_RESOURCE_GUARD",
        `heap dump refused to protect the workload: ${verdict.reason}`,
      );
    }
  }
  return { usedHeapBytes, neededBytes, freeBytes: volume.freeBytes, inMemory: volume.inMemory };
}

/** Dumps the heap into the target's /tmp and takes the file; nothing stays in the target. */
export async function dumpHeap(
  session: AttachSession,
  signal: AbortSignal,
  log: FastifyBaseLogger,
  procRoot: string,
): Promise<{ handle: FileHandle; size: number }> {
  const file = newTargetFile(session.pid, "heap", "hprof", procRoot);
  const reply = await runWritingFile(session, Jcmd.heapDump(file.inTarget), file, signal, log);
  // GC.heap_dump answers status 0 with its own message, success or not.
  if (reply.status !== 0 || !/Heap dump file created/.test(reply.output)) {
    await takeTargetFile(file).then(
      ({ handle }) => handle.close(),
      () => undefined,
    );
    throw new AgentError(
      "KH_ACTION_FAILED",
      `the JVM's GC.heap_dump failed: ${reply.output.split("\n", 1)[0]!.slice(0, 300)}`,
    );
  }
  return takeTargetFile(file);
}

/** The taken file as a stream, masked or raw; the descriptor closes when the stream ends or is destroyed. */
export function hprofStream(
  handle: FileHandle,
  mask: MaskText | undefined,
  stats: HprofMaskStats,
  onClose: () => void,
): Readable {
  const raw = handle.createReadStream({ highWaterMark: 256 * 1024, autoClose: true });
  const out = mask
    ? Readable.from(maskHprof(raw, mask, stats), { objectMode: false, highWaterMark: 256 * 1024 })
    : raw;
  out.once("close", () => {
    if (out !== raw) raw.destroy();
    onClose();
  });
  return out;
}
