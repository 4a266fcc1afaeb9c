/**
 * The environment of a process, from `/proc/<pid>/environ`. Raw values: masking is the caller's job.
 */
import { readProcBuffer, splitNul } from "./proc-read.js";
import type { ProcOptions } from "./process-facts.js";

/** One variable as `[name, value]`. */
export type EnvEntry = readonly [name: string, value: string];

/**
 * Splits the text of an environ file into `[name, value]` pairs, in order. The value starts after
 * the first `=`; an entry without `=` (possible: the kernel shows whatever execve got) is kept
 * with an empty value rather than dropped, so the operator sees everything the process has.
 */
export function parseEnviron(buffer: Buffer): EnvEntry[] {
  return splitNul(buffer).map((entry): EnvEntry => {
    const eq = entry.indexOf("=");
    return eq < 0 ? [entry, ""] : [entry.slice(0, eq), entry.slice(eq + 1)];
  });
}

/**
 * The variables the process was started with. `/proc/<pid>/environ` shows the environment block
 * given to execve: later changes made inside the process (`process.env.X = …`) are not in it.
 * Needs the target's uid or CAP_SYS_PTRACE (else KH_ACTION_FAILED saying so).
 */
export function readEnviron(pid: number, { procRoot = "/proc" }: ProcOptions = {}): EnvEntry[] {
  return parseEnviron(readProcBuffer(procRoot, pid, "environ"));
}
