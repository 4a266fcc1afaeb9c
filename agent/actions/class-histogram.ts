/**
 * `class-histogram` `{limit?: 1..1000}`: the top rows of HotSpot's `GC.class_histogram` of a JVM
 * target as JSON (instances and bytes per class). The JVM runs a full GC first (live objects only,
 * as `jcmd` does): a stop-the-world pause of the order of a young-to-full collection. Class names
 * pass through the masker like any text. Node targets are refused.
 */
import { classHistogramParams } from "../../protocol/actions.js";
import { type ClassHistogram, parseClassHistogram } from "../runtimes/jvm/class-histogram.js";
import { Jcmd } from "../runtimes/jvm/jcmd-commands.js";
import { withAttach } from "../runtimes/jvm/session.js";
import { attachOptions, type JvmActionOptions, jvmLocks, requireJvm } from "./jvm-target.js";
import { defineAction } from "./types.js";

export interface ClassHistogramResult extends ClassHistogram {
  readonly pid: number;
}

export function createClassHistogramAction(options: JvmActionOptions = {}) {
  const locks = jvmLocks(options);
  return defineAction({
    name: "class-histogram",
    description: "The top rows of GC.class_histogram of a JVM target as JSON.",
    params: classHistogramParams,
    outputs: ["inline"],
    limits: { timeoutMs: 120_000, maxConcurrency: 1, maxOutputBytes: 4 * 1024 * 1024 },
    async run(params, ctx): Promise<ClassHistogramResult> {
      ctx.signal.throwIfAborted();
      requireJvm(ctx, "class-histogram");
      const raw = await withAttach(
        ctx.pid,
        ctx.log,
        ctx.signal,
        () => locks.acquire(ctx.pid, "class-histogram"),
        (session) => session.runOk(Jcmd.classHistogram(), ctx.signal),
        attachOptions(ctx, options),
      );
      const histogram = parseClassHistogram(raw, params.limit);
      return {
        pid: ctx.pid,
        ...histogram,
        rows: histogram.rows.map((row) => ({ ...row, className: ctx.redactor.maskText(row.className) })),
      };
    },
  });
}

export const classHistogramAction = createClassHistogramAction();
