/**
 * The periodic job that expires stale pending requests. Unref'd so it never keeps the process alive,
 * and never overlapping itself when a sweep is slow.
 */
import type { FastifyBaseLogger } from "fastify";

/** Runs `sweep` every `intervalMs`; call the returned function to stop it. */
export function startSweeper(
  sweep: () => Promise<unknown>,
  intervalMs: number,
  log: FastifyBaseLogger,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep()
      .catch((err: unknown) => log.error({ err }, "sweeping expired requests failed"))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
