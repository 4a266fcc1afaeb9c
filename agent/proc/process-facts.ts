/**
 * Facts about one process from `/proc/<pid>/`: its command line, uptime, resident memory,
 * threads and open file descriptors. Pure readers: they never learn who asks or why, and they
 * return raw values (the caller masks the command line).
 */
import { constants as osConstants } from "node:os";
import { AgentError } from "../errors.js";
import {
  HeldRecordFile,
  readProcBuffer,
  readProcDir,
  readProcRecord,
  readRecordFile,
  splitNul,
} from "./proc-read.js";
import { type ProcStat, readStat, systemPageSize } from "./process-stat.js";

/**
 * Clock ticks per second of `/proc/<pid>/stat` times. The kernel reports them in USER_HZ, which is
 * fixed at 100 by the ABI on every architecture we run on (whatever CONFIG_HZ the kernel was built
 * with), and Node has no binding for sysconf(_SC_CLK_TCK) to ask.
 */
export const USER_HZ = 100;

/** Where the readers look; tests point them at fixture trees. */
export interface ProcOptions {
  /** Where procfs is mounted; `/proc` by default. */
  readonly procRoot?: string;
}

/** The raw facts of a process; `cmdline` is unmasked. */
export interface ProcessFacts {
  readonly pid: number;
  readonly cmdline: string[];
  readonly uptimeSeconds: number;
  /** Resident set size; null for a process without memory (a zombie). */
  readonly rssBytes: number | null;
  readonly threads: number;
  readonly openFds: number;
  /** When the process started, in clock ticks after boot: with the pid, names this incarnation. */
  readonly startTicks: number;
}

/** The argv of a process (`/proc/<pid>/cmdline` split on NUL); empty for kernel threads and zombies. */
export function readCmdline(pid: number, { procRoot = "/proc" }: ProcOptions = {}): string[] {
  return splitNul(readProcBuffer(procRoot, pid, "cmdline"));
}

/** /proc/uptime, held open: process-info reads it on every request. */
const heldUptime = new HeldRecordFile("/proc/uptime");

/** Seconds since the system booted, from `/proc/uptime`. */
export function readSystemUptime(procRoot = "/proc"): number {
  let text: string;
  try {
    const path = `${procRoot}/uptime`;
    text = (path === heldUptime.path ? heldUptime.read() : readRecordFile(path)).toString("utf8");
  } catch (err) {
    throw new AgentError("KH_ACTION_FAILED", "cannot read /proc/uptime", { cause: err });
  }
  const seconds = Number(text.split(" ")[0]);
  if (!Number.isFinite(seconds)) throw new AgentError("KH_ACTION_FAILED", "cannot parse /proc/uptime");
  return seconds;
}

/** Seconds (two decimals) between a start time in ticks and a system uptime. */
function secondsSince(startTicks: number, systemUptime: number): number {
  return Math.max(0, Math.round((systemUptime - startTicks / USER_HZ) * 100) / 100);
}

/** How long the process has run, in seconds (two decimals): system uptime minus its start time. */
export function readUptimeSeconds(pid: number, { procRoot = "/proc" }: ProcOptions = {}): number {
  const { startTicks } = readStat(procRoot, pid);
  return secondsSince(startTicks, readSystemUptime(procRoot));
}

/** The fields of `/proc/<pid>/status` keyhole uses. */
export interface ProcStatus {
  readonly rssBytes: number | null;
  readonly threads: number;
}

/** Parses `VmRSS` (kB) and `Threads` out of the text of a status file. */
export function parseStatus(text: string): ProcStatus {
  let rssBytes: number | null = null;
  let threads = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("VmRSS:")) {
      const kib = Number.parseInt(line.slice(6).trim(), 10);
      if (Number.isFinite(kib)) rssBytes = kib * 1024;
    } else if (line.startsWith("Threads:")) {
      threads = Number.parseInt(line.slice(8).trim(), 10) || 0;
    }
  }
  return { rssBytes, threads };
}

/** RSS and thread count from `/proc/<pid>/status`. */
export function readStatus(pid: number, { procRoot = "/proc" }: ProcOptions = {}): ProcStatus {
  return parseStatus(readProcRecord(procRoot, pid, "status"));
}

/**
 * Whether the process has installed a handler for `signal`: its bit in the `SigCgt` mask of
 * `/proc/<pid>/status` (bit n-1 for signal n). A signal the process neither catches nor ignores
 * takes its default action, which for SIGUSR1 is to terminate the process.
 */
export function catchesSignal(
  pid: number,
  signal: NodeJS.Signals,
  { procRoot = "/proc" }: ProcOptions = {},
): boolean {
  return signalCaught(readProcRecord(procRoot, pid, "status"), osConstants.signals[signal]);
}

/** Whether the `SigCgt` line of a status text has `signum`'s bit set; false without the line. */
export function signalCaught(statusText: string, signum: number): boolean {
  const hex = /^SigCgt:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText)?.[1];
  if (hex === undefined) return false;
  return ((BigInt(`0x${hex}`) >> BigInt(signum - 1)) & 1n) === 1n;
}

/**
 * How many file descriptors the process has open: the entries of `/proc/<pid>/fd`. Listing it
 * needs the target's uid or CAP_SYS_PTRACE, like reading its environment.
 */
export function countOpenFds(pid: number, { procRoot = "/proc" }: ProcOptions = {}): number {
  return readProcDir(procRoot, pid, "fd").length;
}

/**
 * RSS and threads from a stat record, which has both (RSS in pages): the status file, which has
 * them in kB, is one more file to open per request. A zombie or a kernel thread has no memory of
 * its own (null, as status shows no VmRSS for them). Without a known page size, status is read.
 */
function memoryAndThreads(stat: ProcStat, pid: number, options: ProcOptions): ProcStatus {
  const pageSize = systemPageSize();
  if (pageSize === undefined) return readStatus(pid, options);
  const noMemory = stat.kernelThread || stat.state === "Z" || stat.state === "X";
  return { rssBytes: noMemory ? null : stat.rssPages * pageSize, threads: stat.threads };
}

/** All the facts at once; the first unreadable one throws its coded error. */
export function readProcessFacts(pid: number, options: ProcOptions = {}): ProcessFacts {
  const procRoot = options.procRoot ?? "/proc";
  const stat = readStat(procRoot, pid);
  const { startTicks } = stat;
  const { rssBytes, threads } = memoryAndThreads(stat, pid, options);
  return {
    pid,
    cmdline: readCmdline(pid, options),
    uptimeSeconds: secondsSince(startTicks, readSystemUptime(procRoot)),
    rssBytes,
    threads,
    openFds: countOpenFds(pid, options),
    startTicks,
  };
}
