/**
 * Remembers each accepted `jti` until its `exp`, in bounded memory. When the cache is full of
 * unexpired entries it refuses new ones (the caller answers KH_BUSY) instead of forgetting one:
 * forgetting would reopen a replay window, refusing only costs availability.
 */
export type RememberOutcome = "ok" | "replay" | "full" | "issued-before-start" | "issued-near-unlogged-start";

/**
 * What the envelope checks ask: has this `jti` been accepted before? The in-memory cache below
 * ignores `iat`; the persistent one (replay-log.ts) also refuses envelopes issued before the agent
 * started, or, when it started without a replay log, within the clock allowance after.
 */
export interface ReplayGuard {
  remember(jti: string, exp: number, nowSeconds: number, iat: number): RememberOutcome;
}

export class ReplayCache {
  private readonly entries = new Map<string, number>();
  private lastSweepAt = Number.NEGATIVE_INFINITY;

  /**
   * @param capacity most `jti`s held at once
   * @param minSweepIntervalMs while full, sweep for expired entries at most this often, so a flood
   *   of requests against a full cache costs O(1) each instead of a scan each
   */
  constructor(
    private readonly capacity: number,
    private readonly minSweepIntervalMs = 1000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Checks and records `jti` in one step. `nowSeconds` and `exp` are Unix seconds. */
  remember(jti: string, exp: number, nowSeconds: number): RememberOutcome {
    const knownExp = this.entries.get(jti);
    if (knownExp !== undefined) {
      if (knownExp > nowSeconds) return "replay";
      // Expired entries are inert: the envelope carrying this jti was refused at the time check
      // already, so reuse after expiry cannot pass; drop the stale entry and go on.
      this.entries.delete(jti);
    }
    if (this.entries.size >= this.capacity) {
      this.sweep(nowSeconds);
      if (this.entries.size >= this.capacity) return "full";
    }
    this.entries.set(jti, exp);
    return "ok";
  }

  private sweep(nowSeconds: number): void {
    const nowMs = nowSeconds * 1000;
    if (nowMs - this.lastSweepAt < this.minSweepIntervalMs) return;
    this.lastSweepAt = nowMs;
    for (const [jti, exp] of this.entries) {
      if (exp <= nowSeconds) this.entries.delete(jti);
    }
  }
}
