/**
 * The replay check across restarts (agent/replay-log.ts), on real files: a "restart" is a new
 * PersistentReplayCache over the same state dir, at a later (injected) time. Unless a test says
 * otherwise the state dir already holds an (empty) log, as an earlier run over it leaves it; the
 * starts without one (issue 16, attack finding F4) are the "attack F4" tests.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ReplayCache } from "../../../agent/replay-cache.js";
import {
  COMPACT_EVERY,
  createEmptyReplayLog,
  PersistentReplayCache,
  replayLogPath,
} from "../../../agent/replay-log.js";

const AGENT = "prod/payments/payments-0";
const T0 = 1_800_000_000;

let dir: string;
let warnings: string[];
const sink = {
  warn: (_obj: Record<string, unknown>, msg: string) => warnings.push(msg),
  info: () => {},
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyhole-replay-log-"));
  warnings = [];
  createEmptyReplayLog(join(dir, "state"), AGENT);
});
afterEach(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

/** An agent run started at `startSeconds` (plus `ms`), over `stateDir`. */
const run = (startSeconds: number, stateDir = join(dir, "state"), ms = 0) =>
  PersistentReplayCache.open({
    cache: new ReplayCache(2 * COMPACT_EVERY),
    stateDir,
    agentId: AGENT,
    log: sink,
    nowMs: startSeconds * 1000 + ms,
  });

describe("PersistentReplayCache", () => {
  it("refuses what was issued before the run started and checks the rest", () => {
    const guard = run(T0, join(dir, "state"), 400);
    expect(guard.startedWithoutLog).toBe(false);
    expect(guard.remember("j".repeat(16), T0 + 60, T0, T0 - 1)).toBe("issued-before-start");
    expect(guard.remember("k".repeat(16), T0 + 60, T0, T0)).toBe("ok");
    expect(guard.remember("k".repeat(16), T0 + 60, T0 + 1, T0)).toBe("replay");
    expect(guard.persistent).toBe(true);
  });

  it("an accepted jti is in the log when remember returns, and refused by the next run", () => {
    const first = run(T0);
    // Accepted in the very second of the later restart, or from a controller clock ahead.
    expect(first.remember("same-second-jti-1", T0 + 60, T0, T0 + 5)).toBe("ok");
    expect(readFileSync(replayLogPath(join(dir, "state"), AGENT), "utf8")).toContain("same-second-jti-1");
    const second = run(T0 + 5);
    expect(second.remember("same-second-jti-1", T0 + 60, T0 + 5, T0 + 5)).toBe("replay");
    expect(second.remember("other-jti-0000001", T0 + 60, T0 + 5, T0 + 5)).toBe("ok");
  });

  it("loads only what the start rule does not cover and what has not expired", () => {
    const first = run(T0);
    first.remember("old-issue-000001", T0 + 300, T0 + 1, T0 + 1);
    first.remember("expiring-000001", T0 + 10, T0 + 1, T0 + 8);
    first.remember("still-needed-01", T0 + 300, T0 + 1, T0 + 9);
    const file = replayLogPath(join(dir, "state"), AGENT);
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(3);
    const second = run(T0 + 9);
    // Compacted at the start: only the entry a later start could still need.
    expect(readFileSync(file, "utf8").trim().split("\n")).toEqual([
      `${T0 + 300} ${T0 + 9} "still-needed-01"`,
    ]);
    expect(second.remember("old-issue-000001", T0 + 300, T0 + 9, T0 + 1)).toBe("issued-before-start");
    expect(second.remember("still-needed-01", T0 + 300, T0 + 9, T0 + 9)).toBe("replay");
  });

  it(`compacts itself every ${COMPACT_EVERY} appends`, () => {
    const guard = run(T0);
    const file = replayLogPath(join(dir, "state"), AGENT);
    for (let i = 0; i < COMPACT_EVERY - 1; i++)
      guard.remember(`jti-${String(i).padStart(12, "0")}`, T0 + 300, T0, T0);
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(COMPACT_EVERY - 1);
    // A second later the earlier ones are covered by the start rule of any later start.
    guard.remember("jti-the-last-one-1", T0 + 300, T0 + 1, T0 + 1);
    expect(readFileSync(file, "utf8").trim().split("\n")).toEqual([
      `${T0 + 300} ${T0 + 1} "jti-the-last-one-1"`,
    ]);
    // Still refused in this run: the cache holds them all.
    expect(guard.remember("jti-000000000000", T0 + 300, T0 + 2, T0)).toBe("replay");
  });

  it("skips lines it cannot read (a torn write) and keeps the others", () => {
    const stateDir = join(dir, "state");
    run(T0).remember("good-jti-0000001", T0 + 300, T0, T0 + 3);
    const file = replayLogPath(stateDir, AGENT);
    writeFileSync(file, `garbage\n${readFileSync(file, "utf8")}${T0 + 300} ${T0 + 3} "unterminated`);
    expect(run(T0 + 3).remember("good-jti-0000001", T0 + 300, T0 + 3, T0 + 3)).toBe("replay");
  });

  it("without a usable state dir: starts, warns, and the start rules still refuse", () => {
    const readOnly = join(dir, "read-only");
    run(T0, readOnly);
    chmodSync(readOnly, 0o500);
    const guard = run(T0 + 10, readOnly);
    const root = process.getuid?.() === 0; // root writes anyway
    expect(guard.persistent).toBe(root);
    expect(guard.startedWithoutLog).toBe(!root);
    if (!guard.persistent) expect(warnings.join("\n")).toMatch(/cannot use the replay log/);
    expect(guard.remember("issued-earlier-01", T0 + 60, T0 + 10, T0 + 9)).toBe("issued-before-start");
    // A log it cannot rewrite does not speak for the earlier runs: the 30 s after the start wait.
    expect(guard.remember("issued-later-0001", T0 + 60, T0 + 10, T0 + 10)).toBe(
      root ? "ok" : "issued-near-unlogged-start",
    );
    expect(guard.remember("issued-later-0002", T0 + 120, T0 + 40, T0 + 40)).toBe("ok");
    expect(guard.remember("issued-later-0002", T0 + 120, T0 + 41, T0 + 40)).toBe("replay");

    const notADir = join(dir, "not-a-dir");
    writeFileSync(notADir, "");
    const broken = run(T0, notADir);
    expect(broken.persistent).toBe(false);
    expect(warnings.join("\n")).toMatch(/cannot use the replay log/);
    expect(broken.remember("issued-earlier-02", T0 + 60, T0, T0 - 5)).toBe("issued-before-start");
  });

  it("attack F4: lost state dir: an envelope dated start+10 s that run 1 accepted is refused by run 2", () => {
    const first = run(T0, join(dir, "state"), 200);
    // A controller whose clock runs 10 s ahead: iat = start + 10 s, within the 30 s allowance.
    expect(first.remember("ahead-of-time-jti", T0 + 70, T0, T0 + 10)).toBe("ok");
    // Run 1 is killed, and its pod's state dir goes with it: run 2 starts 3 s later on a new one.
    const second = run(T0 + 3, join(dir, "new-pod"), 500);
    expect(second.startedWithoutLog).toBe(true);
    expect(warnings.join("\n")).toMatch(/no replay log from an earlier run/);
    expect(second.remember("ahead-of-time-jti", T0 + 70, T0 + 3, T0 + 10)).toBe("issued-near-unlogged-start");
  });

  it("attack F4: lost state dir: an envelope of the second run 2 starts in is refused (no rounding down)", () => {
    const first = run(T0, join(dir, "state"), 100);
    expect(first.remember("same-second-jti-01", T0 + 60, T0, T0)).toBe("ok");
    // Before the fix run 2's start was floored to T0, so iat T0 passed the start rule.
    const second = run(T0, join(dir, "new-pod"), 900);
    expect(second.remember("same-second-jti-01", T0 + 60, T0, T0)).toBe("issued-near-unlogged-start");
  });

  it("attack F4: without a log, a fresh envelope issued 31 s after the start is accepted, once", () => {
    const guard = run(T0, join(dir, "new-pod"), 400);
    // The exact start (T0 + 0.4 s) plus 30 s, rounded up: the first iat accepted is T0 + 31.
    expect(guard.acceptsIssuedFrom).toBe(T0 + 31);
    expect(guard.remember("issued-at-30-jti-1", T0 + 90, T0 + 30, T0 + 30)).toBe(
      "issued-near-unlogged-start",
    );
    expect(guard.remember("issued-at-31-jti-1", T0 + 91, T0 + 31, T0 + 31)).toBe("ok");
    expect(guard.remember("issued-at-31-jti-1", T0 + 91, T0 + 32, T0 + 31)).toBe("replay");
    // It went into the new log, so the next start over this state dir is an ordinary one.
    expect(readFileSync(replayLogPath(join(dir, "new-pod"), AGENT), "utf8")).toContain("issued-at-31-jti-1");
    const next = run(T0 + 32, join(dir, "new-pod"));
    expect(next.startedWithoutLog).toBe(false);
    expect(next.remember("issued-at-31-jti-1", T0 + 91, T0 + 32, T0 + 31)).toBe("issued-before-start");
    expect(next.remember("issued-at-32-jti-1", T0 + 92, T0 + 32, T0 + 32)).toBe("ok");
  });

  it("attack F4: a start exactly on a second boundary still waits the whole 30 s", () => {
    const guard = run(T0, join(dir, "new-pod"), 0);
    expect(guard.acceptsIssuedFrom).toBe(T0 + 30);
    expect(guard.remember("issued-at-29-jti-1", T0 + 89, T0 + 29, T0 + 29)).toBe(
      "issued-near-unlogged-start",
    );
    expect(guard.remember("issued-at-30-jti-2", T0 + 90, T0 + 30, T0 + 30)).toBe("ok");
  });

  it("attack F4: a log that stopped being written mid-run is removed, so the next start waits", () => {
    const stateDir = join(dir, "state");
    const guard = run(T0, stateDir);
    const file = replayLogPath(stateDir, AGENT);
    // The compaction's temporary file cannot be written (a directory is in its place).
    mkdirSync(`${file}.${process.pid}.tmp`);
    for (let i = 0; i < COMPACT_EVERY; i++)
      guard.remember(`jti-${String(i).padStart(12, "0")}`, T0 + 300, T0, T0 + 5);
    expect(guard.persistent).toBe(false);
    expect(existsSync(file)).toBe(false);
    expect(warnings.join("\n")).toMatch(/writing the replay log failed.*removed/);
    // Still refused in this run, from memory.
    expect(guard.remember("jti-000000000001", T0 + 300, T0 + 1, T0 + 5)).toBe("replay");
    rmSync(`${file}.${process.pid}.tmp`, { recursive: true });
    const next = run(T0 + 2, stateDir);
    expect(next.startedWithoutLog).toBe(true);
    expect(next.remember("jti-000000000001", T0 + 300, T0 + 2, T0 + 5)).toBe("issued-near-unlogged-start");
  });
});
