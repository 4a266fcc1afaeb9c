/**
 * `log-tail`: the last lines of a file under one of the agent's `--log-root`s, masked.
 *
 * The file is read backwards from the size it had when opened, a chunk at a time, until enough
 * lines qualify, so a 1 GB log answers as fast as a 1 MB one. Filters, in order, per line:
 * `since` (leading timestamp, continuation lines inherit: see proc/since-filter.ts), then
 * masking, then `contains`. `contains` is a literal substring (never a regular expression from a
 * request) matched only against the text outside masks, so it can neither find nor probe a
 * secret one character at a time.
 */
import { type LogTailParams, logTailParams } from "../../protocol/actions.js";
import { AgentError } from "../errors.js";
import { openLogFile } from "../proc/log-file.js";
import { BackwardLineReader, type BackwardReadOptions, type RawLine } from "../proc/read-backwards.js";
import { SinceFilter } from "../proc/since-filter.js";
import { MARKER_PATTERN, type Redactor } from "../redact/index.js";
import { type ActionContext, defineAction } from "./types.js";

/** Room for 10,000 lines of 1 KiB after JSON escaping and mask markers, plus the envelope. */
const MAX_OUTPUT_BYTES = 24 * 1024 * 1024;
/**
 * Text gathered before the answer is refused: a request for 10,000 lines of 64 KiB would
 * otherwise hold 640 MB in the agent before the runner's output cap could refuse it.
 */
const MAX_GATHERED_CHARS = 20 * 1024 * 1024;

export { type LogTailParams, logTailParams };

/** The result of `log-tail`. */
export interface LogTailResult {
  /** The path as asked. */
  readonly file: string;
  /** Masked lines, oldest first. */
  readonly lines: string[];
  readonly count: number;
  /** How many of `lines` were longer than the line cap and cut to their start. */
  readonly truncatedLines: number;
  /** True when no older line was left unread: the answer holds all qualifying lines there are. */
  readonly reachedStart: boolean;
  readonly bytesRead: number;
}

const MARKERS = new RegExp(MARKER_PATTERN.source, "g");

/**
 * Masks lines in one call: the engine keeps the line count, and one pass over a block is several
 * times cheaper than a call per line (and sees multi-line secrets such as PEM blocks whole). Should
 * the count ever differ, each line is masked alone rather than trusting a misaligned split.
 */
function maskLines(redactor: Redactor, lines: readonly string[]): string[] {
  if (lines.length === 0) return [];
  const masked = redactor.maskText(lines.join("\n")).split("\n");
  return masked.length === lines.length ? masked : lines.map((line) => redactor.maskText(line));
}

/** True when `needle` occurs in `masked` outside every mask marker. */
function containsOutsideMasks(masked: string, needle: string): boolean {
  if (!masked.includes(needle)) return false;
  return !masked.includes("⟦") || masked.replace(MARKERS, "\0").includes(needle);
}

/**
 * The implementation of `log-tail`, with the reader's chunk and line sizes exposed so tests can
 * cross chunk boundaries with small files.
 */
export async function runLogTail(
  params: LogTailParams,
  ctx: Pick<ActionContext, "logRoots" | "redactor" | "signal">,
  options: Omit<BackwardReadOptions, "signal"> = {},
): Promise<LogTailResult> {
  ctx.signal.throwIfAborted();
  const opened = await openLogFile(params.file, ctx.logRoots);
  try {
    const reader = new BackwardLineReader(opened.handle, opened.size, { ...options, signal: ctx.signal });
    const since = params.since === undefined ? undefined : new SinceFilter(params.since, params.lines);
    const { contains } = params;
    const wanted = params.lines;
    // Newest first while gathering.
    const kept: string[] = [];
    let truncatedLines = 0;
    let gathered = 0;
    // True when the scan stopped with older lines not yet looked at.
    let leftover = false;

    while (kept.length < wanted && !since?.passedBoundary) {
      const batch = await reader.next();
      if (!batch) break;
      const candidates: RawLine[] = [];
      for (let i = 0; i < batch.length; i++) {
        const line = batch[i]!;
        let qualified: RawLine[] = [line];
        if (since) {
          since.setMaxPending(wanted - kept.length);
          qualified = since.push(line);
        }
        for (const q of qualified) {
          // The raw line must hold the needle for the masked one to hold it outside masks.
          if (contains === undefined || q.text.includes(contains)) candidates.push(q);
        }
        const enough = contains === undefined && kept.length + candidates.length >= wanted;
        if (since?.passedBoundary || enough) {
          leftover = i < batch.length - 1;
          break;
        }
      }
      // Mask only as many as may still be needed; `contains` may reject some after masking.
      for (let from = 0; from < candidates.length && kept.length < wanted; ) {
        const slice = candidates.slice(from, from + (wanted - kept.length));
        from += slice.length;
        const masked = maskLines(
          ctx.redactor,
          slice.map((l) => l.text),
        );
        for (let j = 0; j < slice.length; j++) {
          if (kept.length >= wanted) {
            leftover = true;
            break;
          }
          const text = masked[j]!;
          if (contains !== undefined && !containsOutsideMasks(text, contains)) continue;
          kept.push(text);
          if (slice[j]!.truncated) truncatedLines++;
          gathered += text.length;
        }
        if (from < candidates.length && kept.length >= wanted) leftover = true;
      }
      if (gathered > MAX_GATHERED_CHARS) {
        throw new AgentError(
          "KH_ACTION_FAILED",
          `the last ${wanted} lines exceed the log-tail output cap of ${MAX_GATHERED_CHARS} characters; ask for fewer lines`,
        );
      }
    }
    kept.reverse();
    return {
      file: params.file,
      lines: kept,
      count: kept.length,
      truncatedLines,
      reachedStart: reader.done && !leftover,
      bytesRead: reader.bytesRead,
    };
  } finally {
    await opened.handle.close();
  }
}

export const logTailAction = defineAction({
  name: "log-tail",
  description: "The last lines of a file under an allowed log root, masked; cost independent of file size.",
  params: logTailParams,
  outputs: ["inline"],
  limits: {
    timeoutMs: 10_000,
    // Each run holds one fd, one chunk and up to ~20 MB of lines.
    maxConcurrency: 4,
    maxOutputBytes: MAX_OUTPUT_BYTES,
  },
  run: (params, ctx) => runLogTail(params, ctx),
});
