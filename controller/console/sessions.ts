/**
 * Console sessions. The cookie holds 32 random bytes; the controller keeps only their SHA-256 (as it
 * does for API tokens), so a heap dump or a log line with the map in it is no credential. A session
 * is short-lived (an idle limit and an absolute one, never past the credential it was opened with),
 * ends at logout on the server side, and one opened with a controller-issued token ends when that
 * token is revoked: every use re-reads the token's record.
 *
 * Sessions live in this controller's memory: a restart signs everyone out, and replicas behind one
 * URL need sticky routing for the console (docs/console.md).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Principal } from "../identity/principal.js";
import type { Store } from "../store/types.js";

export interface ConsoleSession {
  readonly principal: Principal;
  /** The CSRF token every form of this session carries. */
  readonly csrf: string;
  readonly createdAt: number;
  /** Absolute end (ms since the epoch). */
  readonly expiresAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  /** A session unused this long ends. */
  readonly idleMs: number;
  /** A session ends this long after login whatever happens. */
  readonly maxMs: number;
  /** Sessions kept at most (the oldest go first). */
  readonly maxSessions: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 15 * 60_000,
  maxMs: 8 * 3_600_000,
  maxSessions: 10_000,
};

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

const hashOf = (value: string) => createHash("sha256").update(value).digest("hex");

/** True when two strings are equal, in time that does not depend on where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #limits: SessionLimits;
  readonly #store: Pick<Store, "getToken">;
  readonly #now: () => number;

  constructor(store: Pick<Store, "getToken">, now: () => number, limits: Partial<SessionLimits> = {}) {
    this.#store = store;
    this.#now = now;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
  }

  /**
   * Opens a session for `principal`; returns the cookie value (never stored). It ends no later than the
   * credential it was opened with (a token's expiry, an ID token's `exp`: console attack F1), nor
   * after `maxMs`, nor after `endBy` when given (the OIDC login's shorter limit).
   */
  open(principal: Principal, endBy?: number): { cookie: string; session: ConsoleSession } {
    this.#sweep();
    const now = this.#now();
    const cookie = randomBytes(32).toString("base64url");
    const session: ConsoleSession = {
      principal,
      csrf: randomBytes(32).toString("base64url"),
      createdAt: now,
      expiresAt: Math.min(
        now + this.#limits.maxMs,
        endBy ?? Number.POSITIVE_INFINITY,
        principal.credential.expiresAt ?? Number.POSITIVE_INFINITY,
      ),
      lastSeenAt: now,
    };
    while (this.#sessions.size >= this.#limits.maxSessions) {
      const oldest = this.#sessions.keys().next();
      if (oldest.done) break;
      this.#sessions.delete(oldest.value);
    }
    this.#sessions.set(hashOf(cookie), session);
    return { cookie, session };
  }

  /** The live session a cookie value names, or undefined (and it is ended when it has run out). */
  async get(cookie: string | undefined): Promise<ConsoleSession | undefined> {
    if (cookie === undefined || !COOKIE_VALUE.test(cookie)) return undefined;
    const key = hashOf(cookie);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const now = this.#now();
    if (now >= session.expiresAt || now - session.lastSeenAt >= this.#limits.idleMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    const { credential } = session.principal;
    if (credential.kind === "token") {
      const token = await this.#store.getToken(credential.id);
      if (!token || token.revokedAt !== undefined || token.expiresAt <= now) {
        this.#sessions.delete(key);
        return undefined;
      }
    }
    session.lastSeenAt = now;
    return session;
  }

  /** Ends the session a cookie value names (logout). */
  end(cookie: string | undefined): void {
    if (cookie !== undefined && COOKIE_VALUE.test(cookie)) this.#sessions.delete(hashOf(cookie));
  }

  /** Ends a session just opened (its record could not be written). */
  endSession(session: ConsoleSession): void {
    for (const [key, s] of this.#sessions) if (s === session) this.#sessions.delete(key);
  }

  /** How many sessions are open (for tests and metrics). */
  get size(): number {
    return this.#sessions.size;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, s] of this.#sessions) {
      if (now >= s.expiresAt || now - s.lastSeenAt >= this.#limits.idleMs) this.#sessions.delete(key);
    }
  }
}
