/**
 * Reading a file's lines backwards from a fixed end, in fixed-size chunks, so the cost of the
 * last N lines depends on N and the line length, never on the file's size.
 *
 * Bytes are split on `\n` before anything is decoded, so a multi-byte UTF-8 character split
 * across two chunks is decoded whole. A line longer than `maxLineBytes` keeps its first
 * `maxLineBytes` bytes (where timestamps and messages are) and is marked truncated; the rest is
 * scanned past without being kept, so memory stays bounded by one chunk plus one line.
 */
import type { FileHandle } from "node:fs/promises";
import { AgentError } from "../errors.js";

/** One line, newest first from the reader, without its `\n` (and without the `\r` of CRLF). */
export interface RawLine {
  readonly text: string;
  /** True when the line was longer than `maxLineBytes` and only its start is kept. */
  readonly truncated: boolean;
}

/** Tuning of the backward reader; the defaults suit production, tests shrink them. */
export interface BackwardReadOptions {
  /** Bytes per read(2). 64 KiB: a few hundred typical lines, one syscall. */
  readonly chunkSize?: number;
  /** Longest line kept; longer ones are cut to this many bytes (at a UTF-8 boundary). */
  readonly maxLineBytes?: number;
  /** Checked before every read. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * The largest `end ≤ bytes.length` that does not cut a UTF-8 sequence: a cut line then decodes
 * without a replacement character at its end.
 */
export function utf8Boundary(bytes: Buffer): number {
  let i = bytes.length - 1;
  // Up to 3 continuation bytes (10xxxxxx) may follow a lead byte.
  let continuation = 0;
  while (i >= 0 && continuation < 3 && (bytes[i]! & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return bytes.length;
  const lead = bytes[i]!;
  const needed = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return needed > continuation ? i : bytes.length;
}

/**
 * Yields the lines of `handle`'s first `size` bytes, newest first, one chunk's worth per
 * `next()` call. `size` is the size seen when the file was opened: a log that keeps growing is
 * read up to that point, so the answer is a consistent snapshot of its end.
 */
export class BackwardLineReader {
  /** Bytes read from the file so far. */
  bytesRead = 0;
  private position: number;
  private readonly chunk: Buffer;
  private readonly maxLineBytes: number;
  private readonly signal: AbortSignal | undefined;
  /** The start of the line being assembled: bytes after the newest unread newline, capped. */
  private carry: Buffer | undefined;
  /** The full length of that line so far, past the cap. */
  private carryLength = 0;
  /** A file ending in `\n` has no empty last line after it. */
  private atEnd = true;
  private finished: boolean;

  constructor(
    private readonly handle: FileHandle,
    size: number,
    options: BackwardReadOptions = {},
  ) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < 1)
      throw new RangeError("chunkSize must be a positive integer");
    this.position = size;
    this.chunk = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)));
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.signal = options.signal;
    this.finished = size === 0;
  }

  /** True once the file's first line has been returned. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * The lines completed by the next chunk back, newest first (possibly none, when a line is
   * longer than a chunk), or `undefined` once the start of the file has been passed.
   */
  async next(): Promise<RawLine[] | undefined> {
    if (this.finished) return undefined;
    this.signal?.throwIfAborted();
    const lines: RawLine[] = [];
    const start = Math.max(0, this.position - this.chunk.length);
    const length = this.position - start;
    await this.readFully(start, length);
    this.position = start;

    let end = length;
    let newline = end > 0 ? this.chunk.lastIndexOf(LF, end - 1) : -1;
    while (newline >= 0) {
      const isEmptyTail = this.atEnd && newline === length - 1 && this.carry === undefined;
      if (!isEmptyTail) lines.push(this.line(newline + 1, end));
      this.atEnd = false;
      this.carry = undefined;
      this.carryLength = 0;
      end = newline;
      newline = end > 0 ? this.chunk.lastIndexOf(LF, end - 1) : -1;
    }
    this.atEnd = false;
    this.prependToCarry(end);
    if (this.position === 0) {
      lines.push(this.line(0, 0));
      this.finished = true;
    }
    return lines;
  }

  /** read(2) until `length` bytes at `start` are in the chunk buffer. */
  private async readFully(start: number, length: number): Promise<void> {
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.handle.read(this.chunk, got, length - got, start + got);
      if (bytesRead === 0) {
        // Only a truncation (copytruncate rotation) makes bytes below the opened size vanish.
        throw new AgentError(
          "KH_ACTION_FAILED",
          "the file was truncated while being read; retry the request",
        );
      }
      got += bytesRead;
      this.bytesRead += bytesRead;
    }
  }

  /** Keeps `chunk[0, end)` in front of the line being assembled, capped to its first bytes. */
  private prependToCarry(end: number): void {
    const head = this.chunk.subarray(0, end);
    const joined = this.carry ? Buffer.concat([head, this.carry]) : Buffer.from(head);
    this.carry =
      joined.length > this.maxLineBytes ? Buffer.from(joined.subarray(0, this.maxLineBytes)) : joined;
    this.carryLength += end;
  }

  /** The line made of `chunk[from, to)` followed by the carried bytes. */
  private line(from: number, to: number): RawLine {
    const own = this.chunk.subarray(from, to);
    const total = own.length + this.carryLength;
    let bytes: Buffer;
    if (!this.carry || this.carry.length === 0) bytes = own;
    else if (own.length >= this.maxLineBytes) bytes = own;
    else bytes = Buffer.concat([own, this.carry.subarray(0, this.maxLineBytes - own.length)]);
    if (total > this.maxLineBytes) {
      const cut = bytes.subarray(0, this.maxLineBytes);
      return { text: cut.toString("utf8", 0, utf8Boundary(cut)), truncated: true };
    }
    const last = bytes.length - 1;
    return {
      text: bytes.toString("utf8", 0, last >= 0 && bytes[last] === CR ? last : bytes.length),
      truncated: false,
    };
  }
}
