/**
 * Choosing the target process in the pod's shared PID namespace.
 */
import { readdirSync, statSync } from "node:fs";
import { AgentError } from "../errors.js";
import { readSmallFile } from "./proc-read.js";
import { parseStat } from "./process-stat.js";

/** Where to look and who is asking (so the agent never picks itself). */
export interface ResolveOptions {
  /** Where procfs is mounted; `/proc` by default. */
  readonly procRoot?: string;
  /** The agent's own pid. */
  readonly selfPid: number;
}

/** What the scan learns about one process. */
interface Candidate {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Basename of argv[0]; empty for kernel threads and zombies. */
  readonly argv0: string;
  readonly hasCmdline: boolean;
}

const PID_SPEC = /^[1-9][0-9]{0,9}$/;
/** The sandbox container's process: Kubernetes' `pause` image runs `/pause`. */
const PAUSE_NAMES = new Set(["pause"]);

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function readOptional(file: string): Buffer | undefined {
  try {
    return readSmallFile(file);
  } catch {
    // The process exited during the scan, or hides its files: it is simply not a candidate.
    return undefined;
  }
}

/** Every process visible under procRoot, read once; processes that vanish mid-scan are skipped. */
function scan(procRoot: string): Candidate[] {
  const candidates: Candidate[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!PID_SPEC.test(entry)) continue;
    const pid = Number(entry);
    const statText = readOptional(`${procRoot}/${pid}/stat`);
    const stat = statText ? parseStat(statText.toString("utf8")) : undefined;
    if (!stat) continue;
    const cmdline = readOptional(`${procRoot}/${pid}/cmdline`) ?? Buffer.alloc(0);
    const nul = cmdline.indexOf(0);
    const argv0 = cmdline.subarray(0, nul < 0 ? cmdline.length : nul).toString("utf8");
    candidates.push({
      pid,
      ppid: stat.ppid,
      comm: stat.comm,
      argv0: basename(argv0),
      hasCmdline: cmdline.length > 0,
    });
  }
  // readdir order is the filesystem's; pid order makes error messages stable.
  return candidates.sort((a, b) => a.pid - b.pid);
}

/** The agent, its ancestors (e.g. a tini or shell that started it) and its descendants (its helpers). */
function agentFamily(candidates: readonly Candidate[], selfPid: number): Set<number> {
  const parentOf = new Map(candidates.map((c) => [c.pid, c.ppid]));
  const family = new Set<number>([selfPid]);
  for (let pid = parentOf.get(selfPid); pid !== undefined && pid > 0 && !family.has(pid); ) {
    family.add(pid);
    pid = parentOf.get(pid);
  }
  for (const c of candidates) {
    const chain: number[] = [];
    let pid: number | undefined = c.pid;
    // Bounded by the number of processes, so a (corrupt) ppid cycle cannot loop forever.
    for (let hops = 0; pid !== undefined && pid > 0 && hops <= candidates.length; hops++) {
      if (pid === selfPid) {
        for (const p of chain) family.add(p);
        break;
      }
      chain.push(pid);
      pid = parentOf.get(pid);
    }
  }
  return family;
}

function describe(candidates: readonly Candidate[]): string {
  return candidates.map((c) => `${c.pid} (${c.argv0 || c.comm})`).join(", ");
}

/**
 * Resolves `--target` to a pid.
 *
 * - A number is a pid, which must exist.
 * - A name matches a process whose `comm` (the kernel's 15-byte name) or argv[0] basename equals
 *   it, the agent itself excepted; exactly one process must match.
 * - No spec means "the only other process in the PID namespace": every process except the agent,
 *   its ancestors and descendants, kernel threads and zombies (empty cmdline), and the pod's
 *   `pause` process. Exactly one must remain; otherwise the error lists the candidates so the
 *   operator knows to pass `--target PID|NAME`. (With no candidates at all the pod probably lacks
 *   `shareProcessNamespace: true`.)
 *
 * Every failure is KH_TARGET_NOT_FOUND. Synchronous: a name or default lookup reads two small
 * files per process, and a pod has a handful of processes.
 */
export function resolveTarget(
  spec: string | undefined,
  { procRoot = "/proc", selfPid }: ResolveOptions,
): number {
  if (spec !== undefined && PID_SPEC.test(spec)) {
    const pid = Number(spec);
    // One stat(2) of its /proc directory: this runs before every request's action.
    if (!statSync(`${procRoot}/${pid}`, { throwIfNoEntry: false })?.isDirectory()) {
      throw new AgentError("KH_TARGET_NOT_FOUND", `no process with pid ${pid}`);
    }
    return pid;
  }

  const all = scan(procRoot);
  if (spec !== undefined) {
    const matches = all.filter((c) => c.pid !== selfPid && (c.comm === spec || c.argv0 === spec));
    if (matches.length === 1) return matches[0]!.pid;
    throw new AgentError(
      "KH_TARGET_NOT_FOUND",
      matches.length === 0
        ? `no process named ${JSON.stringify(spec)}`
        : `${matches.length} processes are named ${JSON.stringify(spec)}: ${describe(matches)}; pass --target PID`,
    );
  }

  const family = agentFamily(all, selfPid);
  const others = all.filter(
    (c) => !family.has(c.pid) && c.hasCmdline && !PAUSE_NAMES.has(c.argv0) && !PAUSE_NAMES.has(c.comm),
  );
  if (others.length === 1) return others[0]!.pid;
  throw new AgentError(
    "KH_TARGET_NOT_FOUND",
    others.length === 0
      ? "no other process in this PID namespace (does the pod set shareProcessNamespace: true?); pass --target PID|NAME"
      : `${others.length} candidate processes: ${describe(others)}; pass --target PID|NAME`,
  );
}
