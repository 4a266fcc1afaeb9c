/**
 * log-tail of 1000 lines: from a 1 GB file vs GNU `tail -n 1000` on the same file (goal ≤ 2×),
 * and from the 1 GB file vs from a 1 MB one (goal ≤ 1.2×: the cost must not depend on the size).
 * The three runs are interleaved over several rounds after a warm-up; medians are compared. The
 * files live in a temp dir that is removed afterwards, whatever happens.
 *
 * The action is called directly (no HTTP), with a real redactor: masking is part of its cost.
 * `tail` runs as a child process (no shell), so its time includes a fork/exec, the way an
 * operator with a shell would pay it.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { logTailAction, logTailParams } from "../agent/actions/log-tail.js";
import type { ActionContext } from "../agent/actions/types.js";
import { createRedactor } from "../agent/redact/index.js";
import { type BenchResult, median } from "./lib.js";

const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const PATHS = ["/api/orders", "/api/users/me", "/healthz", "/api/cart/items", "/api/search?q=shoes"];

/** One block of varied, realistic lines (access and app logs, some with a stack frame). */
function logBlock(targetBytes: number, seed: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  const start = Date.UTC(2024, 4, 1) + seed * 3_600_000;
  for (let i = 0; size < targetBytes; i++) {
    const at = new Date(start + i * 37).toISOString();
    const level = LEVELS[i % LEVELS.length]!;
    const line =
      i % 11 === 0
        ? `    at handler (/app/dist/routes/orders.js:${100 + (i % 50)}:${i % 30})`
        : `${at} ${level} [http-${i % 16}] GET ${PATHS[i % PATHS.length]} status=${i % 23 === 0 ? 500 : 200} duration_ms=${(i * 7) % 900} request_id=${((i * 2654435761) >>> 0).toString(16)} user=u${i % 5000}`;
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** Writes about `bytes` of log lines to `path`, repeating a few distinct 4 MB blocks. */
function writeLog(path: string, bytes: number): number {
  const blocks = [0, 1, 2, 3].map((seed) => logBlock(Math.min(bytes, 4 * 1024 * 1024), seed));
  const fd = openSync(path, "w");
  let written = 0;
  try {
    for (let i = 0; written < bytes; i++) {
      const block = blocks[i % blocks.length]!;
      writeSync(fd, block);
      written += block.length;
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

async function timeAction(ctx: ActionContext, file: string, lines: number): Promise<number> {
  const params = logTailParams.parse({ file, lines });
  const t = performance.now();
  const result = (await logTailAction.run(params, ctx)) as { count: number };
  const ms = performance.now() - t;
  if (result.count !== lines) throw new Error(`log-tail returned ${result.count} lines, not ${lines}`);
  return ms;
}

function timeTail(path: string, lines: number): number {
  const t = performance.now();
  execFileSync("tail", ["-n", String(lines), path], { stdio: ["ignore", "ignore", "inherit"] });
  return performance.now() - t;
}

/** Runs the benchmark; see the file comment. */
export async function benchLogTail(rounds = 15, lines = 1000): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "keyhole-bench-log-tail-"));
  try {
    const bigBytes = writeLog(join(dir, "big.log"), 1024 * 1024 * 1024);
    const smallBytes = writeLog(join(dir, "small.log"), 1024 * 1024);
    const ctx: ActionContext = {
      pid: process.pid,
      redactor: createRedactor({ fingerprintKey: randomBytes(32) }),
      signal: new AbortController().signal,
      log: pino({ level: "silent" }),
      procRoot: "/proc",
      cgroupRoot: "/sys/fs/cgroup",
      logRoots: [dir],
    };
    const big: number[] = [];
    const small: number[] = [];
    const tail: number[] = [];
    // Warm-up: JIT, page cache of both files' ends, the tail binary.
    for (let i = 0; i < 3; i++) {
      await timeAction(ctx, "big.log", lines);
      await timeAction(ctx, "small.log", lines);
      timeTail(join(dir, "big.log"), lines);
    }
    // What the masking engine alone costs on the same (already masked, hence secret-free) lines,
    // interleaved with the rest so it reads against the same conditions.
    const sample = (await logTailAction.run(logTailParams.parse({ file: "big.log", lines }), ctx)) as {
      lines: string[];
    };
    const sampleText = sample.lines.join("\n");
    const maskTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      big.push(await timeAction(ctx, "big.log", lines));
      small.push(await timeAction(ctx, "small.log", lines));
      tail.push(timeTail(join(dir, "big.log"), lines));
      const t = performance.now();
      ctx.redactor.maskText(sampleText);
      maskTimes.push(performance.now() - t);
    }

    const mBig = median(big);
    const mSmall = median(small);
    const mTail = median(tail);
    const mMask = median(maskTimes);
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
    return [
      {
        name: `log-tail ${lines} lines of a ${gb(bigBytes)} file vs GNU tail -n ${lines}`,
        value: `${ms(mBig)} per request (median of ${rounds})`,
        reference: `${ms(mTail)} per tail run, fork/exec included`,
        ratio: mBig / mTail,
        goal: "≤ 2×",
        met: mBig / mTail <= 2,
        extra: `masking the ${lines} lines alone takes ${ms(mMask)} of the action's ${ms(mBig)}`,
      },
      {
        name: `log-tail ${lines} lines: ${gb(bigBytes)} file vs ${(smallBytes / 1024 ** 2).toFixed(1)} MiB file`,
        value: `${ms(mBig)} on the large file`,
        reference: `${ms(mSmall)} on the small file`,
        ratio: mBig / mSmall,
        goal: "≤ 1.2×",
        met: mBig / mSmall <= 1.2,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
