import { appendFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logTailAction, logTailParams, runLogTail } from "../../../../agent/actions/log-tail.js";
import { type LogDirs, logCtx, makeLogDirs, naiveTail } from "./fixture.js";

let dirs: LogDirs;
beforeAll(() => {
  dirs = makeLogDirs();
});
afterAll(() => dirs.cleanup());

/** Writes `content` as `name` under the root and returns its name. */
function logFile(name: string, content: string | Buffer): string {
  writeFileSync(join(dirs.root, name), content);
  return name;
}

const params = (p: Record<string, unknown>) => logTailParams.parse(p);

describe("log-tail: the last lines", () => {
  const content = Array.from(
    { length: 20_000 },
    (_, i) => `2024-05-01T12:00:${String(i % 60).padStart(2, "0")}Z INFO request ${i} served in ${i % 97} ms`,
  ).join("\n");

  it("returns exactly the last N lines of a file many chunks long, reading only its end", async () => {
    const file = logFile("big.log", `${content}\n`);
    const result = await runLogTail(params({ file, lines: 1000 }), logCtx([dirs.root]));
    expect(result.lines).toEqual(naiveTail(content, 1000));
    expect(result.count).toBe(1000);
    expect(result.file).toBe("big.log");
    expect(result.reachedStart).toBe(false);
    expect(result.truncatedLines).toBe(0);
    // ~60 KB of lines: two 64 KiB chunks at most, out of ~1 MB.
    expect(result.bytesRead).toBeLessThanOrEqual(2 * 64 * 1024);
    expect(result.bytesRead).toBeLessThan(Buffer.byteLength(content) / 5);
  });

  it("defaults to 100 lines and returns all there are when fewer exist", async () => {
    const file = logFile("short.log", "one\ntwo\nthree\n");
    const many = await runLogTail(params({ file }), logCtx([dirs.root]));
    expect(many).toMatchObject({
      lines: ["one", "two", "three"],
      count: 3,
      reachedStart: true,
      bytesRead: 14,
    });
    const exact = await runLogTail(params({ file, lines: 3 }), logCtx([dirs.root]));
    expect(exact.lines).toEqual(["one", "two", "three"]);
    expect(exact.reachedStart).toBe(true);
    const fewer = await runLogTail(params({ file, lines: 2 }), logCtx([dirs.root]));
    expect(fewer).toMatchObject({ lines: ["two", "three"], reachedStart: false });
  });

  it("counts a last line without a trailing newline", async () => {
    const file = logFile("partial.log", "a\nb\nlast without newline");
    const result = await runLogTail(params({ file, lines: 2 }), logCtx([dirs.root]), { chunkSize: 4 });
    expect(result.lines).toEqual(["b", "last without newline"]);
  });

  it("strips CRLF line ends and keeps empty lines", async () => {
    const file = logFile("crlf.log", "first\r\n\r\nthird\r\n");
    const result = await runLogTail(params({ file, lines: 10 }), logCtx([dirs.root]), { chunkSize: 3 });
    expect(result.lines).toEqual(["first", "", "third"]);
  });

  it("answers an empty file with no lines", async () => {
    const file = logFile("empty.log", "");
    const result = await runLogTail(params({ file }), logCtx([dirs.root]));
    expect(result).toEqual({
      file,
      lines: [],
      count: 0,
      truncatedLines: 0,
      reachedStart: true,
      bytesRead: 0,
    });
  });

  it("cuts a line longer than the cap to its start and marks it, without losing its neighbours", async () => {
    const long = `2024-05-01T12:00:00Z START ${"x".repeat(10_000)} END`;
    const file = logFile("long.log", `before\n${long}\nafter\n`);
    const result = await runLogTail(params({ file, lines: 3 }), logCtx([dirs.root]), {
      chunkSize: 1024,
      maxLineBytes: 4096,
    });
    expect(result.lines).toHaveLength(3);
    expect(result.lines[0]).toBe("before");
    expect(result.lines[1]).toBe(long.slice(0, 4096));
    expect(result.lines[2]).toBe("after");
    expect(result.truncatedLines).toBe(1);
  });

  it("decodes multi-byte UTF-8 split across chunk boundaries whole, and cuts long lines at a character", async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `${i} héllo wörld — 日本語 😀 ${"é".repeat(i % 7)}`);
    const file = logFile("utf8.log", `${lines.join("\n")}\n`);
    for (const chunkSize of [1, 2, 3, 5, 7, 16]) {
      const result = await runLogTail(params({ file, lines: 50 }), logCtx([dirs.root]), { chunkSize });
      expect(result.lines).toEqual(lines);
    }
    const cut = await runLogTail(
      params({ file: logFile("emoji.log", "😀😀😀\n"), lines: 1 }),
      logCtx([dirs.root]),
      {
        chunkSize: 3,
        maxLineBytes: 6,
      },
    );
    // 6 bytes hold one 4-byte emoji and half of the next: the half is dropped, not garbled.
    expect(cut.lines).toEqual(["😀"]);
    expect(cut.truncatedLines).toBe(1);
  });

  it("reads a rotated file like any other", async () => {
    logFile("app.log", "new 1\nnew 2\n");
    const file = logFile("app.log.1", "old 1\nold 2\nold 3\n");
    const result = await runLogTail(params({ file, lines: 2 }), logCtx([dirs.root]));
    expect(result.lines).toEqual(["old 2", "old 3"]);
  });

  it("reads a file that grows while being read only up to its size at open: whole lines, in order", async () => {
    const initial = Array.from({ length: 3000 }, (_, i) => `line ${i}`).join("\n");
    const file = logFile("growing.log", `${initial}\n`);
    const path = join(dirs.root, file);
    const appended: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 5000; i++) {
        appended.push(`appended ${i} ${"y".repeat(i % 50)}`);
        appendFileSync(path, `${appended.at(-1)}\n`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const result = await runLogTail(params({ file, lines: 2000 }), logCtx([dirs.root]), { chunkSize: 512 });
    writing = false;
    await writer;
    // Whatever had been appended when the file was opened is the end of the answer, nothing later.
    const k = appended.indexOf(result.lines.at(-1) ?? "");
    const snapshot = [initial, ...appended.slice(0, k + 1)].join("\n");
    expect(result.lines).toEqual(naiveTail(snapshot, 2000));
  });
});

describe("log-tail: contains", () => {
  it("filters on a literal substring before counting; regex metacharacters are plain text", async () => {
    const lines = Array.from({ length: 500 }, (_, i) =>
      i % 10 === 0 ? `ERROR (code.*) failed ${i}` : `INFO fine ${i}`,
    );
    const file = join(dirs.root, "contains.log");
    writeFileSync(file, `${lines.join("\n")}\n`);
    const result = await runLogTail(params({ file, lines: 5, contains: "(code.*)" }), logCtx([dirs.root]), {
      chunkSize: 100,
    });
    expect(result.lines).toEqual(lines.filter((l) => l.includes("(code.*)")).slice(-5));
    expect(result.count).toBe(5);
    const none = await runLogTail(params({ file, contains: "no such text" }), logCtx([dirs.root]));
    expect(none).toMatchObject({ lines: [], count: 0, reachedStart: true });
  });

  it("never matches inside a masked secret, so it cannot probe one", async () => {
    const secret = "hunter2-very-secret-value";
    const file = logFile("probe.log", `password=${secret}\nuser=alice ok\n`);
    const ctx = logCtx([dirs.root]);
    ctx.redactor.remember(secret);
    for (const probe of ["hunter2", "password=hunter", secret]) {
      const result = await runLogTail(params({ file, contains: probe }), ctx);
      expect(result.lines).toEqual([]);
    }
    const visible = await runLogTail(params({ file, contains: "password=" }), ctx);
    expect(visible.count).toBe(1);
    expect(visible.lines[0]).not.toContain(secret);
  });
});

describe("log-tail: since", () => {
  it("keeps lines whose leading ISO timestamp is at or after since; continuation lines go with their entry", async () => {
    const file = logFile(
      "since.log",
      [
        ...Array.from({ length: 100 }, (_, i) => `2024-05-01T11:00:00Z much older ${i}`),
        "2024-05-01T11:59:59Z old entry",
        "    at old stack frame",
        "2024-05-01T12:00:00Z boundary entry",
        "Error: boom",
        "    at handler (app.js:1:1)",
        "2024-05-01 12:00:01,250 log4j style",
        "[2024-05-01T14:00:02+02:00] bracketed with offset (12:00:02Z)",
        "[2024-05-01T10:00:03-02:00] bracketed, negative offset (12:00:03Z)",
        "",
      ].join("\n"),
    );
    const result = await runLogTail(params({ file, since: "2024-05-01T12:00:00Z" }), logCtx([dirs.root]), {
      chunkSize: 16,
    });
    expect(result.lines).toEqual([
      "2024-05-01T12:00:00Z boundary entry",
      "Error: boom",
      "    at handler (app.js:1:1)",
      "2024-05-01 12:00:01,250 log4j style",
      "[2024-05-01T14:00:02+02:00] bracketed with offset (12:00:02Z)",
      "[2024-05-01T10:00:03-02:00] bracketed, negative offset (12:00:03Z)",
    ]);
    // It stopped at the first older entry rather than reading to the start.
    expect(result.reachedStart).toBe(false);
    expect(result.bytesRead).toBeLessThan(1000);
  });

  it("recognises epoch seconds, epoch millis and JSON time fields; lines before any timestamp have no time", async () => {
    const t = Date.parse("2024-05-01T12:00:00Z");
    const file = logFile(
      "epoch.log",
      [
        "no timestamp at the start of the file",
        `${t / 1000 - 10} too old`,
        `${t / 1000} epoch seconds`,
        `[${t + 500}] epoch millis`,
        `{"level":30,"time":${t + 1000},"msg":"pino"}`,
        `{"timestamp":"2024-05-01T12:00:02.000Z","msg":"iso in json"}`,
      ].join("\n"),
    );
    const result = await runLogTail(params({ file, since: "2024-05-01T12:00:00Z" }), logCtx([dirs.root]));
    expect(result.lines).toEqual([
      `${t / 1000} epoch seconds`,
      `[${t + 500}] epoch millis`,
      `{"level":30,"time":${t + 1000},"msg":"pino"}`,
      `{"timestamp":"2024-05-01T12:00:02.000Z","msg":"iso in json"}`,
    ]);
    const untimed = logFile("untimed.log", "a\nb\nc\n");
    const none = await runLogTail(
      params({ file: untimed, since: "2000-01-01T00:00:00Z" }),
      logCtx([dirs.root]),
    );
    expect(none).toMatchObject({ lines: [], reachedStart: true });
  });

  it("combines since, contains and the line count", async () => {
    const file = logFile(
      "combined.log",
      [
        "2024-05-01T12:00:00Z ERROR a",
        "  detail a",
        "2024-05-01T12:00:01Z INFO b",
        "2024-05-01T12:00:02Z ERROR c",
        "  detail c",
        "2024-05-01T12:00:03Z ERROR d",
      ].join("\n"),
    );
    const result = await runLogTail(
      params({ file, since: "2024-05-01T12:00:00Z", contains: "ERROR", lines: 2 }),
      logCtx([dirs.root]),
      { chunkSize: 8 },
    );
    expect(result.lines).toEqual(["2024-05-01T12:00:02Z ERROR c", "2024-05-01T12:00:03Z ERROR d"]);
  });

  it("refuses a since that is not an ISO date-time, and out-of-range line counts", () => {
    expect(logTailParams.safeParse({ file: "a", since: "yesterday" }).success).toBe(false);
    expect(logTailParams.safeParse({ file: "a", since: "2024-05-01T12:00:00Z" }).success).toBe(true);
    expect(logTailParams.safeParse({ file: "a", lines: 0 }).success).toBe(false);
    expect(logTailParams.safeParse({ file: "a", lines: 10_001 }).success).toBe(false);
    expect(logTailParams.safeParse({ file: "a", contains: "two\nlines" }).success).toBe(false);
    expect(logTailParams.safeParse({ file: "a", regex: ".*" }).success).toBe(false);
  });
});

describe("log-tail: masking and the action entry", () => {
  it("masks secrets in every returned line", async () => {
    const secret = "sk_live_51HxQ2eLkdIwHu7ixabcdefghijkl";
    const file = logFile(
      "secrets.log",
      [
        "2024-05-01T12:00:00Z connecting to postgres://app:pa55word-xyz@db:5432/app",
        `2024-05-01T12:00:01Z api_key=${secret}`,
        "2024-05-01T12:00:02Z Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
        "",
      ].join("\n"),
    );
    const result = await runLogTail(params({ file }), logCtx([dirs.root]));
    const json = JSON.stringify(result);
    expect(result.count).toBe(3);
    expect(json).not.toContain("pa55word-xyz");
    expect(json).not.toContain(secret);
    expect(json).not.toContain("c2lnbmF0dXJlc2lnbmF0dXJl");
    expect(json).toContain("⟦masked:");
  });

  it("declares its limits", () => {
    expect(logTailAction.name).toBe("log-tail");
    expect(logTailAction.limits).toMatchObject({ timeoutMs: 10_000, maxConcurrency: 4 });
    // 10,000 lines of 1 KiB with JSON overhead.
    expect(logTailAction.limits.maxOutputBytes).toBeGreaterThan(10_000 * 1024 * 1.5);
  });

  it("stops between chunks when aborted, and closes the file", async () => {
    // 50,000 reads of 8 bytes, as `contains` never matches: far longer than the 5 ms before the abort.
    const file = logFile("abort.log", "x\n".repeat(200_000));
    const openFds = () => readdirSync("/proc/self/fd").length;
    const before = openFds();
    const controller = new AbortController();
    const run = runLogTail(
      params({ file, lines: 10_000, contains: "never" }),
      logCtx([dirs.root], { signal: controller.signal }),
      {
        chunkSize: 8,
      },
    );
    setTimeout(() => controller.abort(new Error("client gone")), 5);
    await expect(run).rejects.toThrow("client gone");
    expect(openFds()).toBe(before);

    const gone = new AbortController();
    gone.abort(new Error("already gone"));
    await expect(
      logTailAction.run(params({ file }), logCtx([dirs.root], { signal: gone.signal })),
    ).rejects.toThrow("already gone");
  });
});
