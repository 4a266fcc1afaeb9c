/** Bounded, abortable polling: the inspector appears and disappears asynchronously in the target. */
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Calls `probe` until it returns a value other than undefined, backing off from 10 ms to 100 ms,
 * for at most `timeoutMs`. Resolves to undefined on timeout; rejects when `signal` aborts.
 */
export async function pollUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    signal?.throwIfAborted();
    const value = await probe();
    if (value !== undefined) return value;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(delay, left), undefined, signal ? { signal, ref: false } : { ref: false });
    delay = Math.min(delay * 2, 100);
  }
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
