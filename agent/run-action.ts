/**
 * Runs one verified action within its declared limits: at most `maxConcurrency` at once (else
 * KH_BUSY), abandoned after `timeoutMs` (KH_TIMEOUT) or when the client goes away; the action's
 * `signal` is aborted in both cases so it stops and releases what it holds.
 */
import type { ActionContext, ActionDefinition } from "./actions/types.js";
import { AgentError } from "./errors.js";

export class ActionRunner {
  private readonly inFlight = new Map<string, number>();

  /** @param clientGone aborted by the caller when the requester disconnects */
  async run(
    action: ActionDefinition,
    params: unknown,
    context: Omit<ActionContext, "signal">,
    clientGone: AbortSignal,
  ): Promise<unknown> {
    const running = this.inFlight.get(action.name) ?? 0;
    if (running >= action.limits.maxConcurrency) {
      throw new AgentError(
        "KH_BUSY",
        `${action.name} is already running ${running} time(s) here; retry shortly`,
      );
    }
    this.inFlight.set(action.name, running + 1);
    const timeout = AbortSignal.timeout(action.limits.timeoutMs);
    const signal = AbortSignal.any([timeout, clientGone]);
    let onAbort: (() => void) | undefined;
    try {
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        if (signal.aborted) onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
      });
      return await Promise.race([action.run(params, { ...context, signal }), aborted]);
    } catch (err) {
      if (timeout.aborted) {
        throw new AgentError(
          "KH_TIMEOUT",
          `${action.name} did not finish within ${action.limits.timeoutMs} ms`,
          {
            cause: err,
          },
        );
      }
      throw err;
    } finally {
      if (onAbort) signal.removeEventListener("abort", onAbort);
      const left = (this.inFlight.get(action.name) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(action.name);
      else this.inFlight.set(action.name, left);
    }
  }
}
