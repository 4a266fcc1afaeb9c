/**
 * The replay check across restarts (agent/replay-log.ts), on real files: a "restart" is a new
 * PersistentReplayCache over the same state dir, at a later (injected) time.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ReplayCache } from "../../../agent/replay-cache.js";
import { COMPACT_EVERY, PersistentReplayCache, replayLogPath } from "../../../agent/replay-log.js";

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
  it("refuses what was issued before the run started, in any state dir, and checks the rest", () => {
    const guard = run(T0, join(dir, "fresh"), 400);
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

  it("without a usable state dir: starts, warns, and the start rule still refuses", () => {
    const readOnly = join(dir, "read-only");
    run(T0, readOnly);
    chmodSync(readOnly, 0o500);
    const guard = run(T0 + 10, readOnly);
    expect(guard.persistent).toBe(process.getuid?.() === 0); // root writes anyway
    if (!guard.persistent) expect(warnings.join("\n")).toMatch(/cannot use the replay log/);
    expect(guard.remember("issued-earlier-01", T0 + 60, T0 + 10, T0 + 9)).toBe("issued-before-start");
    expect(guard.remember("issued-later-0001", T0 + 60, T0 + 10, T0 + 10)).toBe("ok");
    expect(guard.remember("issued-later-0001", T0 + 60, T0 + 11, T0 + 10)).toBe("replay");

    const notADir = join(dir, "not-a-dir");
    writeFileSync(notADir, "");
    const broken = run(T0, notADir);
    expect(broken.persistent).toBe(false);
    expect(warnings.join("\n")).toMatch(/cannot use the replay log/);
    expect(broken.remember("issued-earlier-02", T0 + 60, T0, T0 - 5)).toBe("issued-before-start");
  });
});
