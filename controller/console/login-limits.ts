/**
 * How often the console's login may be tried (console attack F3). The old limit counted every attempt
 * per address, so junk posted through a shared address (an ingress: every browser behind it is one
 * address to the controller) locked the real users out. Now:
 *
 * - only **failures** count, per address: a successful sign-in never uses up anyone's budget;
 * - an address over its failure budget is refused without a check, **except** for an attempt naming a
 *   credential (a controller token's id, an ID token's `sub`) that has not itself failed that often:
 *   a person whose own token is fine still signs in while the junk beside them is refused, and an
 *   attacker who aims at one credential spends that credential's small budget, not everyone's;
 * - **per subject**, successful sign-ins are limited too: a leaked token cannot open sessions fast
 *   enough to crowd everyone else out of the session table;
 * - starting an OIDC sign-in (which keeps a pending entry) is limited per address on its own.
 *
 * The secrets themselves (256-bit token secrets, signed ID tokens) cannot be guessed at any rate;
 * the limits keep junk cheap and its log short. Fixed one-minute windows, kept in memory.
 */

/** Failures one address may cause per minute before it is refused unchecked. */
export const DEFAULT_FAILURES_PER_ADDRESS = 10;
/** Failures one named credential may cause per minute before attempts naming it are refused unchecked. */
export const DEFAULT_FAILURES_PER_CREDENTIAL = 5;
/** Sessions one subject may open per minute. */
export const DEFAULT_SIGN_INS_PER_SUBJECT = 20;
/** OIDC sign-ins one address may start per minute. */
export const DEFAULT_STARTS_PER_ADDRESS = 30;

const MAX_KEYS = 10_000;

/** A fixed-window counter per key. */
class WindowCounter {
  readonly #counts = new Map<string, { window: number; n: number }>();
  constructor(private readonly now: () => number) {}

  count(key: string): number {
    const entry = this.#counts.get(key);
    return entry && entry.window === this.#window() ? entry.n : 0;
  }

  add(key: string): number {
    const window = this.#window();
    if (this.#counts.size >= MAX_KEYS)
      for (const [k, v] of this.#counts) if (v.window !== window) this.#counts.delete(k);
    // Still full of this window's keys: forget the oldest (a flood of keys costs its own budget).
    while (this.#counts.size >= MAX_KEYS) this.#counts.delete(this.#counts.keys().next().value!);
    const entry = this.#counts.get(key);
    if (!entry || entry.window !== window) {
      this.#counts.set(key, { window, n: 1 });
      return 1;
    }
    return ++entry.n;
  }

  #window(): number {
    return Math.floor(this.now() / 60_000);
  }
}

export interface LoginLimitSettings {
  readonly failuresPerAddress?: number;
  readonly failuresPerCredential?: number;
  readonly signInsPerSubject?: number;
  readonly startsPerAddress?: number;
}

/**
 * The credential a login attempt names, without checking it: a controller token's id
 * (`kh_<id>_…`), or an ID token's issuer and `sub` (read, not verified). Undefined for junk.
 */
export function namedCredential(token: string): string | undefined {
  const kh = /^kh_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/.exec(token);
  if (kh) return `token:${kh[1]}`;
  const parts = token.split(".");
  if (parts.length !== 3 || token.length > 8192) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Record<
      string,
      unknown
    >;
    if (typeof claims.iss === "string" && typeof claims.sub === "string" && claims.sub !== "")
      return `oidc:${claims.iss.slice(0, 200)} ${claims.sub.slice(0, 200)}`;
  } catch {
    return undefined;
  }
  return undefined;
}

export class LoginLimits {
  readonly #failuresByAddress: WindowCounter;
  readonly #failuresByCredential: WindowCounter;
  readonly #signIns: WindowCounter;
  readonly #starts: WindowCounter;
  readonly #limits: Required<LoginLimitSettings>;

  constructor(now: () => number, settings: LoginLimitSettings = {}) {
    this.#failuresByAddress = new WindowCounter(now);
    this.#failuresByCredential = new WindowCounter(now);
    this.#signIns = new WindowCounter(now);
    this.#starts = new WindowCounter(now);
    this.#limits = {
      failuresPerAddress: settings.failuresPerAddress ?? DEFAULT_FAILURES_PER_ADDRESS,
      failuresPerCredential: settings.failuresPerCredential ?? DEFAULT_FAILURES_PER_CREDENTIAL,
      signInsPerSubject: settings.signInsPerSubject ?? DEFAULT_SIGN_INS_PER_SUBJECT,
      startsPerAddress: settings.startsPerAddress ?? DEFAULT_STARTS_PER_ADDRESS,
    };
  }

  /** Whether an attempt from `address` naming `credential` is checked at all. */
  mayTry(address: string, credential: string | undefined): boolean {
    if (this.#failuresByAddress.count(address) < this.#limits.failuresPerAddress) return true;
    return (
      credential !== undefined &&
      this.#failuresByCredential.count(credential) < this.#limits.failuresPerCredential
    );
  }

  /** A refused attempt: it counts against its address and the credential it named. */
  failed(address: string, credential: string | undefined): void {
    this.#failuresByAddress.add(address);
    if (credential !== undefined) this.#failuresByCredential.add(credential);
  }

  /** A session about to be opened for `subject`: false when that subject opened too many this minute. */
  maySignIn(subject: string): boolean {
    return this.#signIns.add(subject) <= this.#limits.signInsPerSubject;
  }

  /** An OIDC sign-in started from `address`: false when that address started too many this minute. */
  mayStart(address: string): boolean {
    return this.#starts.add(address) <= this.#limits.startsPerAddress;
  }
}
