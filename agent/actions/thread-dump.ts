/**
 * `thread-dump`: HotSpot's `Thread.print` of a JVM target through its attach socket, masked, and
 * the same dump as JSON (each thread's name, state, frames and monitors, parsed from the masked
 * text). Costs the target a safepoint of milliseconds. Node targets are refused.
 */
import { threadDumpParams } from "../../protocol/actions.js";
import { Jcmd } from "../runtimes/jvm/jcmd-commands.js";
import { withAttach } from "../runtimes/jvm/session.js";
import { type JvmThread, parseThreadDump } from "../runtimes/jvm/thread-dump.js";
import { attachOptions, type JvmActionOptions, jvmLocks, requireJvm } from "./jvm-target.js";
import { defineAction } from "./types.js";

export interface ThreadDumpResult {
  readonly pid: number;
  readonly threads: JvmThread[];
  /** The dump as the JVM printed it, masked. */
  readonly text: string;
}

export function createThreadDumpAction(options: JvmActionOptions = {}) {
  const locks = jvmLocks(options);
  return defineAction({
    name: "thread-dump",
    description: "Thread.print of a JVM target, masked, as text and as JSON threads with state and frames.",
    params: threadDumpParams,
    outputs: ["inline"],
    limits: { timeoutMs: 30_000, maxConcurrency: 2, maxOutputBytes: 64 * 1024 * 1024 },
    async run(_params, ctx): Promise<ThreadDumpResult> {
      ctx.signal.throwIfAborted();
      requireJvm(ctx, "thread-dump");
      const raw = await withAttach(
        ctx.pid,
        ctx.log,
        ctx.signal,
        () => locks.acquire(ctx.pid, "thread-dump"),
        (session) => session.runOk(Jcmd.threadPrint(), ctx.signal),
        attachOptions(ctx, options),
      );
      const text = ctx.redactor.maskText(raw);
      return { pid: ctx.pid, threads: parseThreadDump(text), text };
    },
  });
}

export const threadDumpAction = createThreadDumpAction();
