/**
 * Telling "the database cannot be used right now" from other store errors, and riding out a short
 * outage where losing the write would lose a record nobody can recompute (an agent's answer).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyBaseLogger } from "fastify";

/**
 * Whether `err` says the database cannot be used right now (locked past the busy timeout, read-only,
 * disk full or I/O error for SQLite; connection lost, refused or out of resources for PostgreSQL).
 * Every store write is one transaction, so nothing of it was recorded and a retry is safe.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const { code, errcode } = (err ?? {}) as { code?: unknown; errcode?: unknown };
  // node:sqlite: code ERR_SQLITE_ERROR with SQLite's result code; the low byte is the primary code
  // of an extended one (SQLITE_IOERR_FSYNC is SQLITE_IOERR).
  if (code === "ERR_SQLITE_ERROR" && typeof errcode === "number") {
    return SQLITE_UNAVAILABLE.has(errcode & 0xff);
  }
  // PostgreSQL classes 08 (connection), 53 (insufficient resources), 57P (operator intervention).
  if (typeof code === "string" && /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-4])$/.test(code)) return true;
  const message = (err as Error | undefined)?.message ?? "";
  return /^(database is not open|Connection terminated|terminating connection|Client has encountered a connection error|timeout exceeded when trying to connect|connect ECONNREFUSED)/.test(
    message,
  );
}

/** SQLite's BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN and PROTOCOL result codes. */
const SQLITE_UNAVAILABLE = new Set([5, 6, 8, 10, 13, 14, 15]);

/** Waits between attempts: about half a minute in all, on top of the store's own busy timeout. */
export const STORE_RETRY_DELAYS_MS: readonly number[] = [250, 500, 1000, 2000, 4000, 8000, 15_000];

/**
 * Runs `write`, and again after each delay while it fails because the store is unavailable; any
 * other error, or the last one, is thrown.
 */
export async function retryWhileUnavailable<T>(
  write: () => Promise<T>,
  log: FastifyBaseLogger,
  what: string,
  delaysMs: readonly number[] = STORE_RETRY_DELAYS_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      const delay = delaysMs[attempt];
      if (delay === undefined || !isStoreUnavailable(err)) throw err;
      log.warn(
        { err, attempt: attempt + 1, retryInMs: delay },
        `the database is unavailable; retrying ${what}`,
      );
      await sleep(delay);
    }
  }
}
