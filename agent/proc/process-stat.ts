/**
 * Parsing `/proc/<pid>/stat` (proc(5)): the few fields keyhole needs.
 */
import { readFileSync } from "node:fs";
import { endianness } from "node:os";
import { AgentError } from "../errors.js";
import { readProcRecord } from "./proc-read.js";

/** The fields of `/proc/<pid>/stat` keyhole uses. */
export interface ProcStat {
  /** The kernel's short name of the process (at most 15 bytes). */
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  /** When the process started, in clock ticks (USER_HZ) after boot: field 22. */
  readonly startTicks: number;
  /** Field 20. */
  readonly threads: number;
  /** Resident set size in pages (field 24): the same counters as `VmRSS` in status. */
  readonly rssPages: number;
  /** A kernel thread (PF_KTHREAD in field 9): it has no memory of its own. */
  readonly kernelThread: boolean;
}

/** PF_KTHREAD in the flags field (include/linux/sched.h). */
const PF_KTHREAD = 0x00200000;

/**
 * Parses the text of a stat file. `comm` may itself contain spaces and parentheses, so the fields
 * after it are counted from the *last* `)`; `rest[0]` is then field 3.
 */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  const ppid = Number(rest[1]);
  const flags = Number(rest[6]);
  const threads = Number(rest[17]);
  const startTicks = Number(rest[19]);
  const rssPages = Number(rest[21]);
  if (!rest[0] || ![ppid, flags, threads, startTicks, rssPages].every(Number.isSafeInteger)) return undefined;
  return {
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid,
    startTicks,
    threads,
    rssPages,
    kernelThread: (flags & PF_KTHREAD) !== 0,
  };
}

/** AT_PAGESZ in the auxiliary vector (include/uapi/linux/auxvec.h). */
const AT_PAGESZ = 6n;
let pageSizeRead: number | undefined | null = null;

/**
 * The kernel's page size, which stat's RSS counts in: AT_PAGESZ of the agent's own auxiliary
 * vector (Node has no sysconf binding). 4 KiB on x86-64, and 4, 16 or 64 KiB on arm64 kernels.
 * Undefined where it cannot be read (not a 64-bit Linux): callers then read status instead.
 */
export function systemPageSize(): number | undefined {
  if (pageSizeRead !== null) return pageSizeRead;
  pageSizeRead = undefined;
  try {
    const auxv = readFileSync("/proc/self/auxv");
    const little = endianness() === "LE";
    for (let at = 0; at + 16 <= auxv.length; at += 16) {
      const type = little ? auxv.readBigUInt64LE(at) : auxv.readBigUInt64BE(at);
      if (type !== AT_PAGESZ) continue;
      const value = Number(little ? auxv.readBigUInt64LE(at + 8) : auxv.readBigUInt64BE(at + 8));
      if (value >= 4096 && (value & (value - 1)) === 0) pageSizeRead = value;
      break;
    }
  } catch {
    // No auxv to read: status it is.
  }
  return pageSizeRead;
}

/** Reads and parses `/proc/<pid>/stat`; a vanished pid is KH_TARGET_NOT_FOUND. */
export function readStat(procRoot: string, pid: number): ProcStat {
  const stat = parseStat(readProcRecord(procRoot, pid, "stat"));
  if (!stat) throw new AgentError("KH_ACTION_FAILED", `cannot parse /proc/${pid}/stat`);
  return stat;
}
