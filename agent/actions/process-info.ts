/**
 * `process-info`: the target's pid, masked command line, uptime, RSS, threads, open fds and
 * cgroup memory limit and usage, and which runtime it runs (node, jvm, unknown) and how the agent
 * knows. Cheap by design (a dozen small /proc reads, all synchronous):
 * it is the action operators and health tooling call most. V8 heap statistics of Node targets
 * need the inspector and come with it.
 */
import { processInfoParams } from "../../protocol/actions.js";
import { type CgroupMemory, readCgroupMemory } from "../proc/cgroup-memory.js";
import { readProcessFacts } from "../proc/process-facts.js";
import { detectRuntime, type RuntimeKind } from "../proc/runtime-kind.js";
import { defineAction } from "./types.js";

/** The result of `process-info`. */
export interface ProcessInfoResult {
  readonly pid: number;
  /** argv, masked: secret flags, URL credentials, tokens and the target's known env secrets. */
  readonly cmdline: string[];
  readonly uptimeSeconds: number;
  readonly rssBytes: number | null;
  readonly threads: number;
  readonly openFds: number;
  readonly cgroup: CgroupMemory;
  /** `node`, `jvm` or `unknown`, from /proc alone (no signal, no connection). */
  readonly runtime: RuntimeKind;
  /** How the agent knows: `maps: …/libjvm.so`, `exe: /usr/bin/node`, or why it cannot tell. */
  readonly runtimeEvidence: string;
}

export const processInfoAction = defineAction({
  name: "process-info",
  description: "Pid, masked command line, uptime, RSS, threads, open fds and cgroup memory of the target.",
  params: processInfoParams,
  outputs: ["inline"],
  limits: {
    timeoutMs: 5_000,
    maxConcurrency: 32,
    // A command line is at most ARG_MAX (2 MiB by default); this is generous for real ones.
    maxOutputBytes: 1024 * 1024,
  },
  async run(_params, ctx): Promise<ProcessInfoResult> {
    ctx.signal.throwIfAborted();
    const facts = readProcessFacts(ctx.pid, { procRoot: ctx.procRoot });
    const cgroup = readCgroupMemory(ctx.pid, { procRoot: ctx.procRoot, cgroupRoot: ctx.cgroupRoot });
    const runtime = detectRuntime(ctx.pid, ctx.procRoot);
    ctx.signal.throwIfAborted();
    return {
      pid: facts.pid,
      cmdline: ctx.redactor.maskArgv(facts.cmdline),
      uptimeSeconds: facts.uptimeSeconds,
      rssBytes: facts.rssBytes,
      threads: facts.threads,
      openFds: facts.openFds,
      cgroup,
      runtime: runtime.runtime,
      runtimeEvidence: ctx.redactor.maskText(runtime.evidence),
    };
  },
});
