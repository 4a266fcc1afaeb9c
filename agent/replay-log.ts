/**
 * Replay protection that outlives the agent process (issue 16, finding 3: a captured envelope was
 * accepted again after the agent restarted, because the replay cache lived in memory only).
 * Property: an envelope is accepted at most once by an agent id, across restarts, until it expires.
 *
 * Two parts, because neither alone is enough:
 *
 * 1. **Nothing issued before this run started** (`iat` earlier than the second the agent started)
 *    is accepted: an earlier run, in this container or in a pod that came before it, may have
 *    accepted it. This needs no storage, so it holds with a fresh emptyDir, a read-only or lost
 *    state dir, a new pod with the same id. Its cost: an envelope signed while the agent was
 *    down, or by a controller whose clock runs behind the agent's, is refused (`KH_REPLAY`; the
 *    controller never re-sends one, the requester asks again).
 * 2. **What the start rule cannot tell apart**: an envelope an earlier run accepted in the very
 *    second this run started, or issued "after" it by a controller whose clock runs ahead (by at
 *    most the 30 s `iat` allowance). For these, every accepted `jti` is appended to a log in the
 *    state dir before its action runs, and a start loads the entries it still needs (issued in or
 *    after its own start second, unexpired). The append is one `write(2)` on an `O_APPEND`
 *    descriptor, without fsync: once `write` returns, the line is in the kernel's page cache and
 *    survives any crash of the agent or its container; only a kernel crash loses it, and a
 *    node's reboot takes longer than the seconds part 1 leaves to the log. A crash between the
 *    in-memory accept and the append is a crash before the action ran.
 *
 * The log keeps itself small: an entry issued before the current second is covered by part 1 at
 * any later start, so a compaction (at start, and every COMPACT_EVERY appends) rewrites only the
 * entries of the current second and later, to a temporary file renamed over the log.
 *
 * 3. **A start without a log** (issue 16, attack finding F4): part 2 only helps when the log is
 *    there. With a new or lost state dir (a fresh emptyDir, a new pod of the same id), a
 *    read-only or broken one, nothing tells this run what the previous one accepted in the
 *    second of this start or dated up to 30 s ahead of it, and part 1 alone let such a captured
 *    envelope through again. So when no log was loaded from a usable state dir, the start rule
 *    widens: an envelope is accepted only if its `iat` is at least MAX_CLOCK_SKEW_SECONDS after
 *    the exact start time (not floored to the second). Why that suffices: an earlier run accepted
 *    only envelopes with `iat <= its now + 30 s`, and its now was before this start. The cost,
 *    the trade-off we chose: for the first 30 s after such a start every envelope is refused
 *    (`KH_REPLAY`, saying why; the controller never re-sends one, the requester asks again), and
 *    an envelope signed later but by a controller whose clock runs behind the agent's is refused
 *    for correspondingly longer. A log that existed, was read and could be rewritten at start is
 *    "loaded" (even empty: an earlier run over this state dir wrote it); with one, parts 1 and 2
 *    hold as before and there is no wait. When the log stops being writable mid-run, this run
 *    deletes it if it can, so the next start does not trust a log that misses this run's jtis.
 *
 * If the state dir cannot hold the log (read-only, full, missing), the agent still starts, logs
 * it, and relies on parts 1 and 3; see docs/threat-model.md.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { makePrivateDir } from "../common/private-dir.js";
import { MAX_CLOCK_SKEW_SECONDS } from "../protocol/request.js";
import type { RememberOutcome, ReplayCache } from "./replay-cache.js";

/** Appends between compactions. */
export const COMPACT_EVERY = 4096;

/** Where the agent's log lines go (a pino logger fits). */
export interface ReplayLogSink {
  warn(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

/** One line of the log: `<exp> <iat> <jti as JSON>`. */
interface Entry {
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
}

const line = (e: Entry) => `${e.exp} ${e.iat} ${JSON.stringify(e.jti)}\n`;

function parseLine(text: string): Entry | undefined {
  const first = text.indexOf(" ");
  const second = text.indexOf(" ", first + 1);
  if (first < 0 || second < 0) return undefined;
  const exp = Number(text.slice(0, first));
  const iat = Number(text.slice(first + 1, second));
  let jti: unknown;
  try {
    jti = JSON.parse(text.slice(second + 1));
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(exp) || !Number.isSafeInteger(iat) || typeof jti !== "string") return undefined;
  return { exp, iat, jti };
}

/** The log file of one agent id in a state dir (ids hold `/`, so the name is a digest). */
export function replayLogPath(stateDir: string, agentId: string): string {
  const digest = createHash("sha256").update(agentId).digest("hex").slice(0, 24);
  return join(stateDir, `replay-${digest}.log`);
}

/**
 * Creates an empty replay log for `agentId` in `stateDir` unless one is there: what a first run
 * over that state dir leaves behind. Only for a state dir that provably no earlier run of this id
 * served from, e.g. the demo's, whose signing keys were generated moments before (no envelope an
 * earlier run could have accepted verifies with them), and tests; it lifts part 3's 30 s wait.
 */
export function createEmptyReplayLog(stateDir: string, agentId: string): void {
  makePrivateDir(stateDir);
  writeFileSync(replayLogPath(stateDir, agentId), "", { mode: 0o600, flag: "a" });
}

/**
 * The replay check across restarts: the in-memory cache, the start rule and the log. Its
 * `remember` has the cache's shape plus `iat`, and answers `issued-before-start` for part 1 and
 * `issued-near-unlogged-start` for part 3.
 */
export class PersistentReplayCache {
  private fd: number | undefined;
  private appended = 0;
  /** Entries appended since the last compaction that may still be needed at a later start. */
  private recent: Entry[] = [];
  /** jti → exp of the envelopes earlier runs accepted that the start rule does not cover. */
  private readonly carried = new Map<string, number>();
  /** True once a log was read from a state dir that could also rewrite it (part 3 otherwise). */
  private logLoaded = false;

  private constructor(
    private readonly cache: ReplayCache,
    /** When this run started, in milliseconds since the epoch (exact, not rounded). */
    readonly startedAtMs: number,
    private readonly file: string | undefined,
    private readonly log: ReplayLogSink,
  ) {}

  /** The second this run started (Unix seconds, floored): part 1's bound when a log was loaded. */
  get startedAtSeconds(): number {
    return Math.floor(this.startedAtMs / 1000);
  }

  /** True when no usable log was loaded at start, so part 3's wider start rule applies. */
  get startedWithoutLog(): boolean {
    return !this.logLoaded;
  }

  /**
   * The earliest `iat` (Unix seconds) this run accepts: the start second with a loaded log;
   * without one, the first whole second at least MAX_CLOCK_SKEW_SECONDS after the exact start.
   */
  get acceptsIssuedFrom(): number {
    return this.logLoaded
      ? this.startedAtSeconds
      : Math.ceil((this.startedAtMs + MAX_CLOCK_SKEW_SECONDS * 1000) / 1000);
  }

  /**
   * Opens (creating) the log for `agentId` in `stateDir`, loads the entries this run needs and
   * compacts the log. Never throws for the state dir: without a usable one the start rule alone
   * protects, and a warning says so.
   */
  static open(options: {
    readonly cache: ReplayCache;
    readonly stateDir: string;
    readonly agentId: string;
    readonly log: ReplayLogSink;
    /** Milliseconds since the epoch; injectable for tests. */
    readonly nowMs?: number;
  }): PersistentReplayCache {
    const nowMs = options.nowMs ?? Date.now();
    const file = replayLogPath(options.stateDir, options.agentId);
    const guard = new PersistentReplayCache(options.cache, nowMs, file, options.log);
    const started = guard.startedAtSeconds;
    try {
      makePrivateDir(options.stateDir);
      const loaded = guard.load(started);
      guard.compact(started);
      // Read, and rewritable: only now does the log speak for the earlier runs (part 3).
      guard.logLoaded = loaded !== undefined;
      if (guard.logLoaded) {
        options.log.info(
          { file, loaded, startedAt: new Date(nowMs).toISOString() },
          "replay log open: envelopes issued before this start are refused, later ones checked against the log",
        );
      } else {
        options.log.warn(
          { file, startedAt: new Date(nowMs).toISOString(), acceptsIssuedFrom: guard.acceptsIssuedFrom },
          `no replay log from an earlier run in the state dir (new or lost): envelopes issued before ${MAX_CLOCK_SKEW_SECONDS} s after this start are refused (an earlier run may have accepted them)`,
        );
      }
    } catch (err) {
      guard.disable(err, "cannot use the replay log");
    }
    return guard;
  }

  /**
   * Loads the unexpired entries issued in or after the start second; returns how many, or
   * undefined when there is no log (a new or lost state dir).
   */
  private load(startedAtSeconds: number): number | undefined {
    let text: string;
    try {
      text = readFileSync(this.file!, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let loaded = 0;
    for (const raw of text.split("\n")) {
      const entry = raw === "" ? undefined : parseLine(raw);
      if (!entry || entry.exp <= startedAtSeconds || entry.iat < startedAtSeconds) continue;
      // Beside the cache, not in it: a full cache must not drop one (the cache refuses to forget).
      this.carried.set(entry.jti, Math.max(entry.exp, this.carried.get(entry.jti) ?? 0));
      this.recent.push(entry);
      loaded++;
    }
    return loaded;
  }

  /** Rewrites the log with the entries a later start may need, and reopens it for appending. */
  private compact(nowSeconds: number): void {
    const keep = this.recent.filter((e) => e.iat >= nowSeconds && e.exp > nowSeconds);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    // Per process: two agents given one state dir and id (a misconfiguration) must not rename
    // each other's half-written file.
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, keep.map(line).join(""), { mode: 0o600 });
    renameSync(temporary, this.file!);
    this.fd = openSync(this.file!, "a", 0o600);
    this.recent = keep;
    this.appended = 0;
  }

  /** Stops using the log after a failure; the start rule still holds. */
  private disable(err: unknown, why: string): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // Already unusable.
      }
    }
    this.fd = undefined;
    // From here on this run's jtis are not in the log, so a next start must not trust it: without
    // it that start applies part 3, which covers everything the log would have.
    let removed = false;
    try {
      unlinkSync(this.file!);
      removed = true;
    } catch {
      // Read-only or gone: a later start over a state dir that is read-only too applies part 3.
    }
    this.log.warn(
      {
        err,
        file: this.file,
        logRemoved: removed,
        ...(this.logLoaded ? {} : { acceptsIssuedFrom: this.acceptsIssuedFrom }),
      },
      this.logLoaded
        ? `${why}: this run's later envelopes are not logged; the log is ${removed ? "removed, so the next start refuses envelopes issued before 30 s after it" : "left in place"}`
        : `${why}: envelopes issued before ${MAX_CLOCK_SKEW_SECONDS} s after this start are refused (an earlier run may have accepted them), later ones are checked in memory`,
    );
  }

  /** True while accepted jtis are written to the log. */
  get persistent(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Checks and records one envelope: `issued-before-start` when its `iat` is before this run's
   * start second, `issued-near-unlogged-start` when no log was loaded and it was issued less than
   * MAX_CLOCK_SKEW_SECONDS after the start, else the cache's answer; an accepted one is in the log
   * before this returns.
   */
  remember(jti: string, exp: number, nowSeconds: number, iat: number): RememberOutcome {
    if (iat < this.startedAtSeconds) return "issued-before-start";
    if (iat < this.acceptsIssuedFrom) return "issued-near-unlogged-start";
    if ((this.carried.get(jti) ?? 0) > nowSeconds) return "replay";
    const outcome = this.cache.remember(jti, exp, nowSeconds);
    if (outcome !== "ok" || this.fd === undefined) return outcome;
    const entry = { exp, iat, jti };
    try {
      writeSync(this.fd, line(entry));
      this.recent.push(entry);
      if (++this.appended >= COMPACT_EVERY) this.compact(nowSeconds);
    } catch (err) {
      this.disable(err, "writing the replay log failed");
    }
    return outcome;
  }

  /** Closes the log (on shutdown); later envelopes are checked in memory only. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
