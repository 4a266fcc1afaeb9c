/**
 * Which runtime a target runs, from /proc alone (no signal, no connection): a HotSpot JVM maps
 * `libjvm.so`; a Node process runs a `node` executable (or maps `libnode.so`, as distributions
 * that link Node dynamically do). The answer names its evidence, so process-info can say how it
 * knows, and the JVM-only actions refuse anything else before they signal it.
 */
import { readlinkSync } from "node:fs";
import { readProcText } from "./proc-read.js";

export type RuntimeKind = "node" | "jvm" | "unknown";

/** The runtime and what it was told by. */
export interface RuntimeFinding {
  readonly runtime: RuntimeKind;
  /** e.g. `maps: /usr/lib/jvm/…/libjvm.so`, `exe: /usr/bin/node`, or why nothing was found. */
  readonly evidence: string;
}

const NODE_EXE = /^(node|nodejs)(\d+)?$/;

/** The runtime of a process from its mapped files and executable; pure, for tests. */
export function classifyRuntime(maps: string | undefined, exe: string | undefined): RuntimeFinding {
  if (maps !== undefined) {
    const jvm = /\s(\/\S*\/libjvm\.so)$/m.exec(maps);
    if (jvm) return { runtime: "jvm", evidence: `maps: ${jvm[1]}` };
    const node = /\s(\/\S*\/libnode\.so[.\d]*)$/m.exec(maps);
    if (node) return { runtime: "node", evidence: `maps: ${node[1]}` };
  }
  if (exe !== undefined) {
    const base =
      exe
        .replace(/ \(deleted\)$/, "")
        .split("/")
        .pop() ?? "";
    if (NODE_EXE.test(base)) return { runtime: "node", evidence: `exe: ${exe}` };
    if (maps === undefined && base === "java") return { runtime: "jvm", evidence: `exe: ${exe}` };
    return { runtime: "unknown", evidence: `exe: ${exe} (no libjvm.so or libnode.so mapped)` };
  }
  return {
    runtime: "unknown",
    evidence: "the target's maps and exe cannot be read (another uid without CAP_SYS_PTRACE?)",
  };
}

/**
 * Reads `/proc/<pid>/maps` and `/proc/<pid>/exe`. Either may be unreadable (they need the target's
 * uid or CAP_SYS_PTRACE); a target that does not exist throws KH_TARGET_NOT_FOUND.
 */
export function detectRuntime(pid: number, procRoot = "/proc"): RuntimeFinding {
  let maps: string | undefined;
  try {
    maps = readProcText(procRoot, pid, "maps");
  } catch (err) {
    if ((err as { code?: string }).code === "KH_TARGET_NOT_FOUND") throw err;
  }
  let exe: string | undefined;
  try {
    exe = readlinkSync(`${procRoot}/${pid}/exe`);
  } catch {
    // unreadable: maps alone decides
  }
  return classifyRuntime(maps, exe);
}
