/**
 * The memory limit and usage of the cgroup a process runs in, for cgroup v2 and v1.
 *
 * Never throws: a missing or unreadable file gives `null` with the reason in `note`, because a
 * pod without a limit, a hybrid host or a hidden hierarchy is a fact to report, not a failure.
 * Sync reads for the same reason as proc-read.ts: tiny in-memory files, per-request cost.
 */
import { existsSync } from "node:fs";
import { readRecordFile } from "./proc-read.js";
import type { ProcOptions } from "./process-facts.js";

/** Where the cgroup hierarchy is mounted, besides procfs. */
export interface CgroupOptions extends ProcOptions {
  /** `/sys/fs/cgroup` by default. */
  readonly cgroupRoot?: string;
}

/**
 * What process-info reports. `memoryLimitBytes: null` is "no limit" when `note` says so, and
 * "unknown" otherwise (the note says why).
 */
export interface CgroupMemory {
  readonly version: 1 | 2 | null;
  readonly memoryLimitBytes: number | null;
  readonly memoryUsageBytes: number | null;
  readonly note?: string;
}

/** v1 reports "no limit" as the largest page-aligned signed 64-bit value; anything this big is no limit. */
export const V1_UNLIMITED_THRESHOLD = 2 ** 60;

/** The memory controller's cgroup path of each version, from the text of `/proc/<pid>/cgroup`. */
export function parseProcCgroup(text: string): { v1Memory?: string; v2?: string } {
  const found: { v1Memory?: string; v2?: string } = {};
  for (const line of text.split("\n")) {
    // hierarchy-id:controller-list:path; the path itself may contain ':'.
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const id = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (id === "0" && controllers === "") found.v2 = path;
    else if (controllers.split(",").includes("memory")) found.v1Memory = path;
  }
  return found;
}

/**
 * The directory of `path` under the hierarchy mounted at `base`. Inside a container with its own
 * cgroup namespace (or a v1 mount of just the container's cgroup), the path the kernel shows is
 * not visible under the mount, or is relative to a namespace root (`/../…`); then the mount's root
 * is the closest thing we can read, and the note says so. `..` is never followed: it would leave
 * the hierarchy.
 */
function visibleDir(base: string, path: string): { dir: string; note?: string } {
  const key = `${base}\0${path}`;
  let found = visibleDirs.get(key);
  if (found === undefined) {
    found = lookUpVisibleDir(base, path);
    // A process moves between cgroups rarely, and a pod's processes share a few: a small cache
    // spares process-info a stat(2) per request. Cleared whole when it fills.
    if (visibleDirs.size >= VISIBLE_DIRS_CACHED) visibleDirs.clear();
    visibleDirs.set(key, found);
  }
  return found;
}

/** At most this many (hierarchy, cgroup path) answers are remembered. */
const VISIBLE_DIRS_CACHED = 64;
const visibleDirs = new Map<string, { dir: string; note?: string }>();

function lookUpVisibleDir(base: string, path: string): { dir: string; note?: string } {
  const segments = path.split("/").filter((s) => s !== "");
  if (segments.length === 0) return { dir: base };
  if (!path.startsWith("/") || segments.some((s) => s === ".." || s === ".")) {
    return { dir: base, note: `cgroup ${path} is outside the agent's cgroup namespace; showing ${base}` };
  }
  const dir = `${base}/${segments.join("/")}`;
  if (existsSync(dir)) return { dir };
  return { dir: base, note: `cgroup ${path} is not visible under ${base}; showing that hierarchy's root` };
}

/** Where each hierarchy root mounts cgroup v2; the mounts do not change while the agent runs. */
const v2Bases = new Map<string, string>();

/** A hybrid host mounts v2 at <root>/unified; a pure v2 host mounts it at the root itself. */
export function v2Base(cgroupRoot: string): string {
  let base = v2Bases.get(cgroupRoot);
  if (base === undefined) {
    base =
      !existsSync(`${cgroupRoot}/cgroup.controllers`) && existsSync(`${cgroupRoot}/unified`)
        ? `${cgroupRoot}/unified`
        : cgroupRoot;
    v2Bases.set(cgroupRoot, base);
  }
  return base;
}

/** One number read from a cgroup file: its value, or that it says "no limit", or why it cannot be read. */
export type Read = { value: number | null; unlimited?: boolean; problem?: string; missing?: boolean };

/** Reads one cgroup number file; never throws. */
export function readNumber(file: string, isUnlimited: (raw: string, value: number) => boolean): Read {
  let raw: string;
  try {
    raw = readRecordFile(file).toString("utf8").trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return {
      value: null,
      problem: `cannot read ${file} (${code})`,
      ...(code === "ENOENT" ? { missing: true } : {}),
    };
  }
  const value = /^\d{1,20}$/.test(raw) ? Number(raw) : Number.NaN;
  if (isUnlimited(raw, value)) return { value: null, unlimited: true };
  if (Number.isNaN(value)) return { value: null, problem: `unexpected content in ${file}` };
  return { value };
}

function result(version: 1 | 2, limit: Read, usage: Read, notes: (string | undefined)[]): CgroupMemory {
  const all = [...notes, limit.unlimited ? "no memory limit" : limit.problem, usage.problem].filter(
    (n): n is string => n !== undefined,
  );
  return {
    version,
    memoryLimitBytes: limit.value,
    memoryUsageBytes: usage.value,
    ...(all.length > 0 ? { note: all.join("; ") } : {}),
  };
}

/**
 * Reads the memory limit and usage of process `pid`'s cgroup. A v1 `memory` controller line wins
 * over the v2 line (on a hybrid host the memory controller lives on v1); v2 reads `memory.max`
 * ("max" is no limit) and `memory.current` under `<cgroupRoot>/<path>`, v1 reads
 * `memory.limit_in_bytes` and `memory.usage_in_bytes` under `<cgroupRoot>/memory/<path>`.
 */
export function readCgroupMemory(
  pid: number,
  { procRoot = "/proc", cgroupRoot = "/sys/fs/cgroup" }: CgroupOptions = {},
): CgroupMemory {
  let text: string;
  try {
    text = readRecordFile(`${procRoot}/${pid}/cgroup`).toString("utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return {
      version: null,
      memoryLimitBytes: null,
      memoryUsageBytes: null,
      note: `cannot read /proc/${pid}/cgroup (${code})`,
    };
  }
  const paths = parseProcCgroup(text);

  if (paths.v1Memory !== undefined) {
    const { dir, note } = visibleDir(`${cgroupRoot}/memory`, paths.v1Memory);
    const limit = readNumber(`${dir}/memory.limit_in_bytes`, (_raw, n) => n >= V1_UNLIMITED_THRESHOLD);
    const usage = readNumber(`${dir}/memory.usage_in_bytes`, () => false);
    return result(1, limit, usage, [note]);
  }
  if (paths.v2 !== undefined) {
    const base = v2Base(cgroupRoot);
    const { dir, note } = visibleDir(base, paths.v2);
    const limit = readNumber(`${dir}/memory.max`, (raw) => raw === "max");
    const usage = readNumber(`${dir}/memory.current`, () => false);
    return result(2, limit, usage, [note]);
  }
  return {
    version: null,
    memoryLimitBytes: null,
    memoryUsageBytes: null,
    note: `/proc/${pid}/cgroup names no memory cgroup`,
  };
}
