/**
 * `diagnostic-report`: Node's diagnostic report of the target (`process.report.getReport()`),
 * obtained through the inspector by an expression the agent owns, then masked (environment,
 * command line, and every other string as text).
 */
import { diagnosticReportParams } from "../../protocol/actions.js";
import { AgentError } from "../errors.js";
import { maskDiagnosticReport } from "../runtimes/node/mask-report.js";
import type { InspectorOptions } from "../runtimes/node/session.js";
import { withInspector } from "../runtimes/node/session.js";
import { inspectorLocks, type TargetLocks } from "../runtimes/node/target-locks.js";
import { raceAbort } from "../runtimes/node/wait.js";
import { defineAction } from "./types.js";

/**
 * The only expression this action evaluates. A string, so that V8 serialises the report in the
 * target and the agent parses plain JSON; the agent never evaluates anything a request chose.
 */
export const REPORT_EXPRESSION = "JSON.stringify(process.report.getReport())";

interface EvaluateReply {
  readonly result?: { readonly type?: string; readonly value?: unknown };
  readonly exceptionDetails?: { readonly text?: string };
}

/** Builds the diagnostic-report action; tests pass their own locks or inspector timing. */
export function createDiagnosticReportAction(
  options: { locks?: TargetLocks; inspector?: InspectorOptions } = {},
) {
  const locks = options.locks ?? inspectorLocks;
  return defineAction({
    name: "diagnostic-report",
    description: "Node's diagnostic report of the target, masked.",
    params: diagnosticReportParams,
    outputs: ["inline"],
    limits: { timeoutMs: 30_000, maxConcurrency: 2, maxOutputBytes: 16 * 1024 * 1024 },
    async run(_params, ctx): Promise<Record<string, unknown>> {
      ctx.signal.throwIfAborted();
      const raw = await withInspector(
        ctx.pid,
        ctx.log,
        ctx.signal,
        () => locks.acquire(ctx.pid, "diagnostic-report"),
        async (session) => {
          const reply = await raceAbort(
            session.client.send<EvaluateReply>("Runtime.evaluate", {
              expression: REPORT_EXPRESSION,
              returnByValue: true,
              silent: true,
            }),
            ctx.signal,
          );
          if (reply.exceptionDetails || typeof reply.result?.value !== "string") {
            throw new AgentError(
              "KH_ACTION_FAILED",
              `the target could not produce a diagnostic report (${reply.exceptionDetails?.text ?? "no report"})`,
            );
          }
          return reply.result.value;
        },
        options.inspector,
      );
      let report: unknown;
      try {
        report = JSON.parse(raw);
      } catch (err) {
        throw new AgentError("KH_ACTION_FAILED", "the target's diagnostic report is not JSON", {
          cause: err,
        });
      }
      if (report === null || typeof report !== "object" || Array.isArray(report)) {
        throw new AgentError("KH_ACTION_FAILED", "the target's diagnostic report is not an object");
      }
      return maskDiagnosticReport(report as Record<string, unknown>, ctx.redactor);
    },
  });
}

export const diagnosticReportAction = createDiagnosticReportAction();
