/**
 * Files the agent has a JVM write into its own /tmp (a heap dump, a JFR recording), reached only
 * as `/proc/<pid>/root/tmp/keyhole-<kind>-<random>.<ext>`: a name the agent generated, in the
 * target's root, never a path a request chose. Each is opened and unlinked at once, then read
 * from the open descriptor, so nothing stays in the target even if the agent dies while reading.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, statfs, unlink } from "node:fs/promises";
import { AgentError } from "../../errors.js";

/** A file in the target's /tmp: its name as the JVM sees it, and as the agent reaches it. */
export interface TargetFile {
  /** e.g. `/tmp/keyhole-heap-0123456789abcdef.hprof`, what the jcmd line names. */
  readonly inTarget: string;
  /** `<procRoot>/<pid>/root/tmp/…`, what the agent opens. */
  readonly viaProc: string;
}

export function newTargetFile(
  pid: number,
  kind: "heap" | "cpu",
  ext: "hprof" | "jfr",
  procRoot = "/proc",
): TargetFile {
  const name = `keyhole-${kind}-${randomBytes(8).toString("hex")}.${ext}`;
  return { inTarget: `/tmp/${name}`, viaProc: `${procRoot}/${pid}/root/tmp/${name}` };
}

/** Deletes the file if it is there; resolves false (and never throws) when it could not. */
export async function removeTargetFile(file: TargetFile): Promise<boolean> {
  try {
    await unlink(file.viaProc);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
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
