/**
 * Parsing `/proc/<pid>/stat` (proc(5)): the few fields keyhole needs.
 */
import { AgentError } from "../errors.js";
import { readProcText } from "./proc-read.js";

/** The fields of `/proc/<pid>/stat` keyhole uses. */
export interface ProcStat {
  /** The kernel's short name of the process (at most 15 bytes). */
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  /** When the process started, in clock ticks (USER_HZ) after boot: field 22. */
  readonly startTicks: number;
}

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
  const startTicks = Number(rest[19]);
  if (!rest[0] || !Number.isInteger(ppid) || !Number.isInteger(startTicks)) return undefined;
  return { comm: text.slice(open + 1, close), state: rest[0], ppid, startTicks };
}

/** Reads and parses `/proc/<pid>/stat`; a vanished pid is KH_TARGET_NOT_FOUND. */
export function readStat(procRoot: string, pid: number): ProcStat {
  const stat = parseStat(readProcText(procRoot, pid, "stat"));
  if (!stat) throw new AgentError("KH_ACTION_FAILED", `cannot parse /proc/${pid}/stat`);
  return stat;
}
