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
 * If the state dir cannot hold the log (read-only, full, missing), the agent still starts, logs
 * it, and relies on part 1 alone; see docs/threat-model.md.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { makePrivateDir } from "../common/private-dir.js";
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
 * The replay check across restarts: the in-memory cache, the start rule and the log. Its
 * `remember` has the cache's shape plus `iat`, and answers `issued-before-start` for part 1.
 */
export class PersistentReplayCache {
  private fd: number | undefined;
  private appended = 0;
  /** Entries appended since the last compaction that may still be needed at a later start. */
  private recent: Entry[] = [];
  /** jti → exp of the envelopes earlier runs accepted that the start rule does not cover. */
  private readonly carried = new Map<string, number>();

  private constructor(
    private readonly cache: ReplayCache,
    /** The second this run started (Unix seconds, floored). */
    readonly startedAtSeconds: number,
    private readonly file: string | undefined,
    private readonly log: ReplayLogSink,
  ) {}

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
    const started = Math.floor(nowMs / 1000);
    const file = replayLogPath(options.stateDir, options.agentId);
    const guard = new PersistentReplayCache(options.cache, started, file, options.log);
    try {
      makePrivateDir(options.stateDir);
      const loaded = guard.load(started);
      guard.compact(started);
      options.log.info(
        { file, loaded, startedAt: new Date(started * 1000).toISOString() },
        "replay log open: envelopes issued before this start are refused, later ones checked against the log",
      );
    } catch (err) {
      guard.disable(err, "cannot use the replay log");
    }
    return guard;
  }

  /** Loads the unexpired entries issued in or after the start second; returns how many. */
  private load(startedAtSeconds: number): number {
    let text: string;
    try {
      text = readFileSync(this.file!, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
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
    // The log is left as it is: what it holds still protects the next start.
    this.log.warn(
      { err, file: this.file },
      `${why}: replays are refused by the start rule alone (envelopes issued before this start); an envelope accepted in the second before a restart could be accepted again`,
    );
  }

  /** True while accepted jtis are written to the log. */
  get persistent(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Checks and records one envelope: `issued-before-start` when its `iat` is before this run's
   * start second, else the cache's answer; an accepted one is in the log before this returns.
   */
  remember(jti: string, exp: number, nowSeconds: number, iat: number): RememberOutcome {
    if (iat < this.startedAtSeconds) return "issued-before-start";
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
