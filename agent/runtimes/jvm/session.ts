/**
 * One attach session per target at a time, acquired and released in a pair with its lock, like
 * the inspector's (runtimes/node/session.ts): two actions never interleave commands on one JVM.
 */
import type { FastifyBaseLogger } from "fastify";
import { TargetLocks } from "../node/target-locks.js";
import { type AttachOptions, AttachSession } from "./attach-session.js";
import { sweepBeforeAttach } from "./target-files.js";

/** The agent-wide locks every JVM action shares. */
export const attachLocks = new TargetLocks("attach session");

/**
 * Runs `fn` with an attach session of `pid`, holding the target's lock, and releases both in every
 * outcome (the attach file is gone whatever happened).
 */
export async function withAttach<T>(
  pid: number,
  log: FastifyBaseLogger,
  signal: AbortSignal,
  lock: () => () => void,
  fn: (session: AttachSession) => Promise<T>,
  options: AttachOptions = {},
): Promise<T> {
  const unlock = lock();
  let session: AttachSession | undefined;
  try {
    // A dump an earlier agent left behind (killed mid-write) goes before this action starts.
    await sweepBeforeAttach(pid, options.procRoot ?? "/proc", log);
    session = await AttachSession.open(pid, log, signal, options);
    return await fn(session);
  } finally {
    session?.release();
    unlock();
  }
}
