/**
 * The trace a piece of controller work belongs to, carried across awaits without passing it through
 * every signature: the request service runs each API call's work under the caller's trace, and the
 * dispatcher reads it when it schedules a dispatch. Used only when telemetry is on; otherwise
 * nothing is ever stored.
 */
import { AsyncLocalStorage } from "node:async_hooks";

const current = new AsyncLocalStorage<string>();

/** Runs `fn` with `traceparent` as the current trace (or just runs it when there is none). */
export function withTraceparent<T>(traceparent: string | undefined, fn: () => T): T {
  return traceparent ? current.run(traceparent, fn) : fn();
}

/** The current trace, if any. */
export function currentTraceparent(): string | undefined {
  return current.getStore();
}
