/**
 * What the JVM actions share: the runtime check that refuses anything but a JVM before a signal
 * or a connection, and the attach options tests shorten.
 */
import { AgentError } from "../errors.js";
import { detectRuntime, type RuntimeFinding } from "../proc/runtime-kind.js";
import type { AttachOptions } from "../runtimes/jvm/attach-session.js";
import { attachLocks } from "../runtimes/jvm/session.js";
import type { TargetLocks } from "../runtimes/node/target-locks.js";
import type { ActionContext } from "./types.js";

/** How a JVM action is built; tests pass their own locks or attach timing. */
export interface JvmActionOptions {
  readonly locks?: TargetLocks;
  readonly attach?: AttachOptions;
}

export function jvmLocks(options: JvmActionOptions): TargetLocks {
  return options.locks ?? attachLocks;
}

/** The target's runtime; KH_TARGET_UNSUPPORTED unless it is a JVM. Reads /proc only. */
export function requireJvm(ctx: Pick<ActionContext, "pid" | "procRoot">, action: string): RuntimeFinding {
  const finding = detectRuntime(ctx.pid, ctx.procRoot);
  if (finding.runtime !== "jvm") {
    throw new AgentError(
      "KH_TARGET_UNSUPPORTED",
      `${action} serves JVM targets only; process ${ctx.pid} is ${finding.runtime === "node" ? "a Node process" : "not a JVM"} (${finding.evidence})`,
    );
  }
  return finding;
}

/** Attach options with the action's procRoot. */
export function attachOptions(
  ctx: Pick<ActionContext, "procRoot">,
  options: JvmActionOptions,
): AttachOptions {
  return { procRoot: ctx.procRoot, ...options.attach };
}
