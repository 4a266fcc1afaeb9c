/**
 * What the heap-snapshot memory guard can see of the target's memory cgroup: the target's own cgroup
 * and each ancestor up to the root of the hierarchy the agent can read, with their limits and usage.
 *
 * Unlike `readCgroupMemory` (process-info's report), this never falls back to another cgroup: when the
 * target's cgroup cannot be found, the answer says so (`seen: false`) and the guard refuses, because
 * the agent's own cgroup says nothing about the target's (issue 23, finding 1: in the documented
 * sidecar set-up, a cgroup namespace per container, the guard decided on the agent's own limit).
 *
 * Two places are looked at, in order:
 * 1. the agent's cgroup mount (`cgroupRoot`), when the target's path from `/proc/<pid>/cgroup` lies
 *    inside the agent's view (a shared cgroup namespace, cgroup v1, the host's namespace): the
 *    target's directory and every ancestor up to the mount's root;
 * 2. the target's own cgroup mount, through `/proc/<pid>/root/sys/fs/cgroup` (readable by the agent
 *    when it runs as the target's uid, as the manifests set it up), accepted only when that
 *    directory's `cgroup.procs` lists the target's pid (the pod shares one PID namespace, so the
 *    numbers are the agent's). With a cgroup namespace per container, that is the target container's
 *    own cgroup; its ancestors (the pod's) are outside both views, and the answer notes it.
 */

import { existsSync, readFileSync } from "node:fs";
import {
  type CgroupOptions,
  parseProcCgroup,
  type Read,
  readNumber,
  V1_UNLIMITED_THRESHOLD,
  v2Base,
} from "./cgroup-memory.js";
import { readRecordFile } from "./proc-read.js";

/** One cgroup on the way from the target's to the root, with its memory limit and usage. */
export interface CgroupLevel {
  /** The directory read, for the guard's reason. */
  readonly dir: string;
  /** Null when this level sets no limit (`max`, the v1 "unlimited" value, or no memory files in v2). */
  readonly limitBytes: number | null;
  readonly usageBytes: number | null;
  /** Why a file of this level could not be read or understood; the guard refuses on any. */
  readonly problem?: string;
}

/** The guard's view of the target's memory cgroup. */
export type CgroupChain =
  | {
      readonly seen: true;
      readonly version: 1 | 2;
      /** The target's cgroup first, then each ancestor the agent can read. */
      readonly levels: readonly CgroupLevel[];
      /** Where the levels were read: the agent's mount, or the target's own through /proc/<pid>/root. */
      readonly via: "agent-mount" | "target-mount";
      /** What lies beyond the levels and is not seen (ancestors above a namespace root). */
      readonly note?: string;
    }
  | { readonly seen: false; readonly version: 1 | 2 | null; readonly reason: string };

/** Where the target's own view of cgroupfs is mounted inside its root. */
const TARGET_CGROUP_MOUNT = "/sys/fs/cgroup";

function readLevel(dir: string, version: 1 | 2): CgroupLevel {
  let limit: Read;
  let usage: Read;
  if (version === 2) {
    limit = readNumber(`${dir}/memory.max`, (raw) => raw === "max");
    // No memory.max in v2: the memory controller is not enabled for this cgroup (or it is the real
    // root), so this level sets no limit; its parent's usage counts this level's memory anyway.
    if (limit.missing) return { dir, limitBytes: null, usageBytes: null };
    usage = readNumber(`${dir}/memory.current`, () => false);
  } else {
    limit = readNumber(`${dir}/memory.limit_in_bytes`, (_raw, n) => n >= V1_UNLIMITED_THRESHOLD);
    usage = readNumber(`${dir}/memory.usage_in_bytes`, () => false);
  }
  const problem = limit.unlimited
    ? undefined
    : (limit.problem ?? (limit.value !== null ? usage.problem : undefined));
  return {
    dir,
    limitBytes: limit.value,
    usageBytes: usage.value,
    ...(problem !== undefined ? { problem } : {}),
  };
}

/** The target's directory and its ancestors under `base`, when `path` lies inside the agent's view. */
function agentView(base: string, path: string, version: 1 | 2): CgroupChain | string {
  const segments = path.split("/").filter((s) => s !== "");
  if (!path.startsWith("/") || segments.some((s) => s === ".." || s === ".")) {
    return `the target's cgroup ${path} is outside the agent's cgroup namespace`;
  }
  if (!existsSync(`${base}/${segments.join("/")}`)) {
    return `the target's cgroup ${path} is not under the agent's cgroup mount ${base}`;
  }
  const levels: CgroupLevel[] = [];
  for (let n = segments.length; n >= 0; n--) {
    levels.push(readLevel(n === 0 ? base : `${base}/${segments.slice(0, n).join("/")}`, version));
  }
  return { seen: true, version, levels, via: "agent-mount" };
}

/** The target's own cgroup mount, if it is the target's cgroup (its `cgroup.procs` lists the pid). */
function targetView(procRoot: string, pid: number, version: 1 | 2): CgroupChain | string {
  const root = `${procRoot}/${pid}/root${TARGET_CGROUP_MOUNT}`;
  const dir =
    version === 2 ? (existsSync(`${root}/cgroup.controllers`) ? root : `${root}/unified`) : `${root}/memory`;
  let procs: string;
  try {
    procs = readFileSync(`${dir}/cgroup.procs`, "utf8");
  } catch (err) {
    return `nor through the target's own cgroup mount (${dir}/cgroup.procs: ${(err as NodeJS.ErrnoException).code ?? "error"})`;
  }
  if (!procs.split("\n").includes(String(pid))) {
    return `nor through the target's own cgroup mount (${dir} does not hold process ${pid})`;
  }
  return {
    seen: true,
    version,
    levels: [readLevel(dir, version)],
    via: "target-mount",
    note: "the ancestors of the target's cgroup namespace (the pod's cgroup) are not visible",
  };
}

/**
 * Reads the target's memory cgroup and its ancestors, or says why it cannot. Never throws, never
 * reads another process's cgroup in the target's place.
 */
export function readCgroupChain(
  pid: number,
  { procRoot = "/proc", cgroupRoot = "/sys/fs/cgroup" }: CgroupOptions = {},
): CgroupChain {
  let text: string;
  try {
    text = readRecordFile(`${procRoot}/${pid}/cgroup`).toString("utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return { seen: false, version: null, reason: `cannot read /proc/${pid}/cgroup (${code})` };
  }
  const paths = parseProcCgroup(text);
  // On a hybrid host the memory controller lives on v1 (as in readCgroupMemory).
  const version = paths.v1Memory !== undefined ? 1 : paths.v2 !== undefined ? 2 : null;
  if (version === null) return { seen: false, version, reason: `/proc/${pid}/cgroup names no memory cgroup` };
  const path = version === 1 ? paths.v1Memory! : paths.v2!;
  const base = version === 1 ? `${cgroupRoot}/memory` : v2Base(cgroupRoot);
  const mine = agentView(base, path, version);
  if (typeof mine !== "string") return mine;
  const theirs = targetView(procRoot, pid, version);
  if (typeof theirs !== "string") return theirs;
  return { seen: false, version, reason: `${mine}, ${theirs}` };
}
