/**
 * Files the agent has a JVM write into its own /tmp (a heap dump, a JFR recording), reached only
 * as `/proc/<pid>/root/tmp/keyhole-<kind>-<random>.<ext>`: a name the agent generated, in the
 * target's root, never a path a request chose. Each is opened and unlinked at once, then read
 * from the open descriptor, so nothing stays in the target even if the agent dies while reading.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readdir, stat, statfs, unlink } from "node:fs/promises";
import type { FastifyBaseLogger } from "fastify";
import { AgentError } from "../../errors.js";

/** A file in the target's /tmp: its name as the JVM sees it, and as the agent reaches it. */
export interface TargetFile {
  /** e.g. `/tmp/keyhole-heap-4242-0123456789abcdef.hprof` (the agent's pid, then random), what the jcmd line names. */
  readonly inTarget: string;
  /** `<procRoot>/<pid>/root/tmp/…`, what the agent opens. */
  readonly viaProc: string;
}

/** The names newTargetFile gives (the writing agent's pid, then random): what a sweep may delete. */
const TARGET_FILE_NAME = /^keyhole-(?:heap|cpu)-(?<pid>[1-9][0-9]{0,9})-[0-9a-f]{16}\.(?:hprof|jfr)$/;

/**
 * True when no process runs as `pid`: the agent that named a file is gone. Two agents sharing a
 * /tmp (on one host, not in a pod) must not delete each other's files mid-write.
 */
function ownerGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Names of the files this agent process has a JVM write and has not yet taken or removed: a
 * sweep leaves them alone. (A file still named here after its request ended is removed by the
 * request's own clean-up, dump-file.ts.)
 */
const ownFiles = new Set<string>();

export function newTargetFile(
  pid: number,
  kind: "heap" | "cpu",
  ext: "hprof" | "jfr",
  procRoot = "/proc",
): TargetFile {
  const name = `keyhole-${kind}-${process.pid}-${randomBytes(8).toString("hex")}.${ext}`;
  ownFiles.add(name);
  return { inTarget: `/tmp/${name}`, viaProc: `${procRoot}/${pid}/root/tmp/${name}` };
}

function forget(file: TargetFile): void {
  ownFiles.delete(file.inTarget.slice("/tmp/".length));
}

/** Deletes the file if it is there; resolves false (and never throws) when it could not. */
export async function removeTargetFile(file: TargetFile): Promise<boolean> {
  try {
    await unlink(file.viaProc);
    forget(file);
    return true;
  } catch (err) {
    const gone = (err as NodeJS.ErrnoException).code === "ENOENT";
    if (gone) forget(file);
    return gone;
  }
}

/**
 * Deletes the heap dumps and recordings an agent left in process `pid`'s /tmp (an agent killed
 * while a JVM wrote one: the file holds every secret of the heap, unmasked): files named by an
 * agent whose process is gone, and this process's own that are no longer in flight. Only names
 * newTargetFile gives are touched. Resolves the names
 * removed, and those it could not remove; never throws.
 */
export async function sweepTargetFiles(
  pid: number,
  procRoot = "/proc",
): Promise<{ removed: string[]; failed: string[] }> {
  const dir = `${procRoot}/${pid}/root/tmp`;
  const removed: string[] = [];
  const failed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    // The process is gone, or its /tmp is not readable: nothing this agent could have left.
    return { removed, failed };
  }
  for (const name of names) {
    const owner = TARGET_FILE_NAME.exec(name)?.groups?.pid;
    if (owner === undefined || ownFiles.has(name)) continue;
    // Another agent's file while that agent runs: it may be mid-write.
    if (Number(owner) !== process.pid && !ownerGone(Number(owner))) continue;
    try {
      await unlink(`${dir}/${name}`);
      removed.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") failed.push(name);
    }
  }
  return { removed, failed };
}

/** Logs what a sweep did, if anything. */
function logSweep(
  log: Pick<FastifyBaseLogger, "warn" | "error">,
  pid: number,
  result: { removed: string[]; failed: string[] },
): void {
  if (result.removed.length > 0)
    log.warn(
      { pid, files: result.removed },
      "removed files an earlier agent left in the target's /tmp (it stopped while a JVM wrote them)",
    );
  if (result.failed.length > 0)
    log.error(
      { pid, files: result.failed },
      "CANNOT REMOVE files an earlier agent left in the target's /tmp",
    );
}

/** sweepTargetFiles, logged: before an attach session, so a leftover never outlives the next action. */
export async function sweepBeforeAttach(
  pid: number,
  procRoot: string,
  log: Pick<FastifyBaseLogger, "warn" | "error">,
): Promise<void> {
  logSweep(log, pid, await sweepTargetFiles(pid, procRoot));
}

/**
 * At the agent's start: sweeps the /tmp of every process it can see (each /tmp once, however many
 * processes share it), so a dump left by an agent that was killed does not wait for the next JVM
 * action. Never throws.
 */
export async function sweepAtStart(
  procRoot: string,
  selfPid: number,
  log: Pick<FastifyBaseLogger, "warn" | "error">,
): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(procRoot);
  } catch {
    return;
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    if (!/^[1-9][0-9]{0,9}$/.test(entry) || Number(entry) === selfPid) continue;
    const pid = Number(entry);
    try {
      const dir = await stat(`${procRoot}/${pid}/root/tmp`);
      const key = `${dir.dev}:${dir.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    } catch {
      continue;
    }
    logSweep(log, pid, await sweepTargetFiles(pid, procRoot));
  }
}

/** Opens the file the JVM wrote and unlinks it at once; the handle is the only way left to it. */
export async function takeTargetFile(file: TargetFile): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(file.viaProc, "r");
  } catch (err) {
    throw new AgentError("KH_ACTION_FAILED", `the JVM did not write ${file.inTarget}`, { cause: err });
  } finally {
    await removeTargetFile(file);
  }
  const { size } = await handle.stat();
  return { handle, size };
}

/** tmpfs's magic number in statfs: its pages are memory, charged to the pod's memory cgroup. */
const TMPFS_MAGIC = 0x01021994;

/** The target's /tmp volume. */
export interface TargetVolume {
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly inMemory: boolean;
}

export async function targetTmpVolume(pid: number, procRoot = "/proc"): Promise<TargetVolume> {
  try {
    const s = await statfs(`${procRoot}/${pid}/root/tmp`);
    return {
      freeBytes: s.bavail * s.bsize,
      totalBytes: s.blocks * s.bsize,
      inMemory: s.type === TMPFS_MAGIC,
    };
  } catch (err) {
    throw new AgentError("KH_ACTION_FAILED", `cannot read the free space of process ${pid}'s /tmp`, {
      cause: err,
    });
  }
}
