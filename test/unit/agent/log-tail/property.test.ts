import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logTailParams, runLogTail } from "../../../../agent/actions/log-tail.js";
import { type LogDirs, logCtx, makeLogDirs, naiveTail } from "./fixture.js";

let dirs: LogDirs;
beforeAll(() => {
  dirs = makeLogDirs();
});
afterAll(() => dirs.cleanup());

// Short, secret-free pieces, with line ends (LF, CRLF, lone CR) and multi-byte characters, so
// random files hit chunk boundaries inside characters and between CR and LF.
const piece = fc.constantFrom("a", "bb", " ", "é", "日本", "😀", "\n", "\n", "\r\n", "\r", "\n\n");

describe("log-tail property", () => {
  it("equals the last N lines computed naively, for any file, N and chunk size", async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 300 }).map((pieces) => pieces.join("")),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 80 }),
        async (content, lines, chunkSize) => {
          const file = `random-${round++}.log`;
          writeFileSync(join(dirs.root, file), content);
          const result = await runLogTail(logTailParams.parse({ file, lines }), logCtx([dirs.root]), {
            chunkSize,
          });
          const expected = naiveTail(content, lines);
          expect(result.lines).toEqual(expected);
          expect(result.count).toBe(expected.length);
          expect(result.reachedStart).toBe(naiveTail(content, Number.MAX_SAFE_INTEGER).length <= lines);
          expect(result.bytesRead).toBeLessThanOrEqual(Buffer.byteLength(content));
        },
      ),
      { numRuns: 300 },
    );
  });
});
