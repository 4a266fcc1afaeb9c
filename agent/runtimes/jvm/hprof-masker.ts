/**
 * Masks an HPROF heap dump while it streams, in place and same length: only the bytes of text are
 * changed, never a length, an id or a record boundary, so the file's structure is the original's
 * by construction and it opens in Eclipse MAT or VisualVM like the raw one.
 *
 * What holds text in a HotSpot dump, and how it is read:
 * - `byte[]` arrays (a String's value since compact strings): Latin-1, and, when the array looks
 *   like it (even length, NUL high bytes), UTF-16 in the machine's order (little-endian);
 * - `char[]` arrays (older JDKs' String values, char buffers): UTF-16, big-endian as HPROF writes
 *   every u2;
 * - UTF8 records: every symbol of the JVM (class, method and field names, and the text of string
 *   literals in loaded classes), modified UTF-8, read byte by byte.
 * Each text goes through the masking engine; where it changed a stretch, that stretch of bytes is
 * overwritten with `*` (one per byte, or per UTF-16 unit), widened to whole characters. An array
 * with control characters is binary data, not a String: only its printable runs of 8 or more are
 * masked, so random bytes cost little. A heap
 * holds millions of short strings, so texts without a line break are masked in batches, one per
 * line of one text (the engine keeps the line count, so line i of the result is text i's); the
 * rest alone. Arrays larger than a window are masked window by window with an overlap, so a
 * secret across a window boundary is still seen whole. A record this parser does not know stops
 * the stream with an error (fail closed) rather than pass bytes it could not judge.
 *
 * Memory: the pending input is at most a window plus one read (a few MiB), whatever the dump's size.
 */

/** Masks one text; the engine's maskText. */
export type MaskText = (text: string) => string;

/** What was masked, for the log (never values). */
export interface HprofMaskStats {
  records: number;
  symbols: number;
  arrays: number;
  /** Texts (a symbol, an array read one way, a window) the engine changed. */
  maskedTexts: number;
}

export const newHprofMaskStats = (): HprofMaskStats => ({
  records: 0,
  symbols: 0,
  arrays: 0,
  maskedTexts: 0,
});

const HPROF_MAGIC = "JAVA PROFILE ";
const TAG_UTF8 = 0x01;
const TAG_HEAP_DUMP = 0x0c;
const TAG_HEAP_DUMP_SEGMENT = 0x1c;
/**
 * Records of ids and numbers only: LOAD CLASS, UNLOAD CLASS, STACK FRAME, STACK TRACE, ALLOC SITES,
 * HEAP SUMMARY, START THREAD, END THREAD, CPU SAMPLES, CONTROL SETTINGS, HEAP DUMP END.
 */
const TEXT_FREE_RECORDS = new Set([0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0a, 0x0b, 0x0d, 0x0e, 0x2c]);

const T_OBJECT = 2;
const T_CHAR = 5;
const T_BYTE = 8;
/** Bytes of a value of each HPROF basic type (objects are ids). */
const TYPE_SIZE: Record<number, number> = { 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8 };

/** The span of one masked window, and the overlap kept so that a secret across its end is seen. */
export const WINDOW_BYTES = 1024 * 1024;
export const OVERLAP_BYTES = 8 * 1024;
/** Texts shorter than this cannot hold a secret the engine masks. */
const MIN_TEXT_BYTES = 4;
/** Output is handed on in pieces of at least this size. */
const EMIT_BYTES = 256 * 1024;
/** How much text one batched call of the engine gets. */
const BATCH_CHARS = 64 * 1024;
const STAR = 0x2a;

type Encoding = "latin1" | "utf8" | "utf16le" | "utf16be";

/** A malformed or unknown dump: the stream ends with this rather than pass bytes it cannot judge. */
export class HprofFormatError extends Error {}

/** The stretch of `text` the engine changed: between the common prefix and suffix of before and after. */
export function changedRange(text: string, masked: string): [number, number] | undefined {
  if (masked === text) return undefined;
  let start = 0;
  const max = Math.min(text.length, masked.length);
  while (start < max && text.charCodeAt(start) === masked.charCodeAt(start)) start++;
  let end = 0;
  while (
    end < max - start &&
    text.charCodeAt(text.length - 1 - end) === masked.charCodeAt(masked.length - 1 - end)
  )
    end++;
  const to = text.length - end;
  // A change that only removed or added text (no stretch of the original): mask the whole text.
  return to > start ? [start, to] : [0, text.length];
}

/** `buf[from, to)` as text, one character per byte (Latin-1, and modified UTF-8 read bytewise) or per unit. */
function decode(buf: Buffer, from: number, to: number, encoding: Encoding): string {
  if (encoding === "utf16be") {
    const copy = Buffer.from(buf.subarray(from, to));
    copy.swap16();
    return copy.toString("utf16le");
  }
  // Modified UTF-8 is read byte by byte as Latin-1: ASCII secrets match as they are, and every
  // character maps to one byte, so ranges need no translation.
  return buf.toString(encoding === "utf16le" ? "utf16le" : "latin1", from, to);
}

/** Overwrites characters [start, end) of the text at `buf[from, to)` with `*`, widened to whole characters. */
function fill(
  buf: Buffer,
  from: number,
  to: number,
  encoding: Encoding,
  text: string,
  range: [number, number],
): void {
  let [start, end] = range;
  if (encoding === "utf16le" || encoding === "utf16be") {
    // Whole surrogate pairs.
    if (start > 0 && (text.charCodeAt(start) & 0xfc00) === 0xdc00) start--;
    if (end < text.length && (text.charCodeAt(end) & 0xfc00) === 0xdc00) end++;
    const [star, zero] = encoding === "utf16le" ? [0, 1] : [1, 0];
    for (let i = start; i < end; i++) {
      buf[from + 2 * i + star] = STAR;
      buf[from + 2 * i + zero] = 0;
    }
    return;
  }
  if (encoding === "utf8") {
    // Whole UTF-8 sequences: never leave a lead byte without its continuation bytes.
    while (start > 0 && ((buf[from + start] ?? 0) & 0xc0) === 0x80) start--;
    while (from + end < to && ((buf[from + end] ?? 0) & 0xc0) === 0x80) end++;
  }
  buf.fill(STAR, from + start, from + end);
}

/**
 * Masks `buf[from, to)` as text of `encoding` in place; true when anything changed. Fails closed:
 * when the engine throws, the whole stretch is overwritten.
 */
export function maskBytesInPlace(
  buf: Buffer,
  from: number,
  to: number,
  encoding: Encoding,
  mask: MaskText,
): boolean {
  const text = decode(buf, from, to, encoding);
  let range: [number, number] | undefined;
  try {
    range = changedRange(text, mask(text));
  } catch {
    range = [0, text.length];
  }
  if (!range) return false;
  fill(buf, from, to, encoding, text, range);
  return true;
}

/**
 * True when a byte[] holds UTF-16LE text: a run of at least MIN_TEXT_BYTES units with a NUL high
 * byte and a printable low one (a compact String with a non-Latin-1 character keeps even its ASCII
 * as such pairs). Random binary data almost never has one.
 */
function looksUtf16le(buf: Buffer, from: number, to: number): boolean {
  const isText = (i: number) => {
    const low = buf[i]!;
    return buf[i + 1] === 0 && ((low >= 0x20 && low < 0x7f) || low >= 0xa0);
  };
  // A run of MIN_TEXT_BYTES units covers one of every MIN_TEXT_BYTES units: look only there first.
  const step = 2 * MIN_TEXT_BYTES;
  for (let p = from + step - 2; p < to - 1; p += step) {
    if (!isText(p)) continue;
    let start = p;
    while (start - 2 >= from && isText(start - 2)) start -= 2;
    let end = p + 2;
    while (end < to - 1 && isText(end)) end += 2;
    if (end - start >= step) return true;
  }
  return false;
}

/** Whether `text` has a C0 control character other than tab and line breaks, or DEL: binary, not text. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/**
 * In binary data, the stretches that could be text: runs of printable ASCII (and tab) of at least
 * MIN_BINARY_RUN characters, as [start, end) (what `strings -n 8` shows). A secret the engine masks
 * by its shape or as a known value is at least that long.
 */
const MIN_BINARY_RUN = 8;
const printable = (c: number) => (c >= 0x20 && c < 0x7f) || c === 0x09;
function printableRuns(text: string): [number, number][] {
  const runs: [number, number][] = [];
  const n = text.length;
  // A run of MIN_BINARY_RUN covers one of every MIN_BINARY_RUN positions: look only there, and
  // widen around a printable one (random bytes are printable a third of the time).
  let covered = 0;
  for (let p = MIN_BINARY_RUN - 1; p < n; p += MIN_BINARY_RUN) {
    if (p < covered || !printable(text.charCodeAt(p))) continue;
    let start = p;
    while (start > covered && printable(text.charCodeAt(start - 1))) start--;
    let end = p + 1;
    while (end < n && printable(text.charCodeAt(end))) end++;
    if (end - start >= MIN_BINARY_RUN) runs.push([start, end]);
    covered = end;
  }
  return runs;
}

/**
 * Texts waiting to be masked together: each is one line of the batch. Must be flushed before the
 * buffer they point into is replaced or handed on.
 */
class TextBatch {
  private bufs: Buffer[] = [];
  private froms: number[] = [];
  private tos: number[] = [];
  private encodings: Encoding[] = [];
  private texts: string[] = [];
  private chars = 0;

  constructor(
    private readonly mask: MaskText,
    private readonly stats: HprofMaskStats,
  ) {}

  /**
   * A text, or, when it holds control characters (a binary buffer, not a String), each printable
   * run of it: the engine's cost on random bytes is then that of the few runs they contain.
   */
  add(buf: Buffer, from: number, to: number, encoding: Encoding): void {
    const text = decode(buf, from, to, encoding);
    if (!hasControl(text)) {
      this.addText(buf, from, to, encoding, text);
      return;
    }
    const width = encoding === "utf16le" || encoding === "utf16be" ? 2 : 1;
    for (const [start, end] of printableRuns(text)) {
      this.addText(buf, from + start * width, from + end * width, encoding, text.slice(start, end));
    }
  }

  private addText(buf: Buffer, from: number, to: number, encoding: Encoding, text: string): void {
    if (text.includes("\n")) {
      // Its own lines would shift the batch's: masked alone.
      if (maskBytesInPlace(buf, from, to, encoding, this.mask)) this.stats.maskedTexts++;
      return;
    }
    this.bufs.push(buf);
    this.froms.push(from);
    this.tos.push(to);
    this.encodings.push(encoding);
    this.texts.push(text);
    this.chars += text.length + 1;
    if (this.chars >= BATCH_CHARS) this.flush();
  }

  /** A byte[]: Latin-1, and UTF-16LE too when it looks like it. */
  addBytes(buf: Buffer, from: number, to: number): void {
    this.add(buf, from, to, "latin1");
    // A String's UTF-16 starts at the array's start; UTF-16 text in a binary buffer may start at
    // an odd offset: both alignments are looked at.
    for (const start of [from, from + 1]) {
      const end = to - ((to - start) % 2);
      if (end - start >= 2 * MIN_TEXT_BYTES && looksUtf16le(buf, start, end))
        this.add(buf, start, end, "utf16le");
    }
  }

  flush(): void {
    const n = this.texts.length;
    if (n === 0) return;
    let lines: string[] | undefined;
    try {
      lines = this.mask(this.texts.join("\n")).split("\n");
    } catch {
      lines = undefined;
    }
    for (let i = 0; i < n; i++) {
      const buf = this.bufs[i]!;
      const from = this.froms[i]!;
      const to = this.tos[i]!;
      const encoding = this.encodings[i]!;
      if (lines === undefined || lines.length !== n) {
        // Never expected (the engine keeps line counts); each text alone then.
        if (maskBytesInPlace(buf, from, to, encoding, this.mask)) this.stats.maskedTexts++;
        continue;
      }
      const text = this.texts[i]!;
      const range = changedRange(text, lines[i]!);
      if (range) {
        fill(buf, from, to, encoding, text, range);
        this.stats.maskedTexts++;
      }
    }
    this.bufs = [];
    this.froms = [];
    this.tos = [];
    this.encodings = [];
    this.texts = [];
    this.chars = 0;
  }
}

/** Pulls bytes from the source, keeps what is not emitted yet, and hands out what is. */
class Input {
  buf: Buffer = Buffer.alloc(0);
  /** Where parsing is, in `buf`. */
  pos = 0;
  /** File offset of buf[0]. */
  base = 0;
  /** What has been handed on, in `buf`. */
  private emitted = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  get offset(): number {
    return this.base + this.pos;
  }

  /** Makes `n` bytes from `pos` available (a new buffer: pending batches must be flushed first); false at the end. */
  async ensure(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      // A new buffer every time: pieces already handed on are never written again.
      const kept = this.buf.subarray(this.emitted);
      this.base += this.emitted;
      this.pos -= this.emitted;
      this.emitted = 0;
      // A copy either way: the source's buffers are not ours to write into.
      this.buf = kept.length === 0 ? Buffer.from(next.value) : Buffer.concat([kept, next.value]);
    }
    return this.buf.length - this.pos >= n;
  }

  async need(n: number, what: string): Promise<void> {
    if (this.buf.length - this.pos >= n) return;
    if (!(await this.ensure(n))) throw new HprofFormatError(`the dump ends inside ${what} at ${this.offset}`);
  }

  /** What can be handed on (everything before `pos`), when there is enough of it or `force`. */
  take(force = false): Buffer | undefined {
    if (this.pos - this.emitted < (force ? 1 : EMIT_BYTES)) return undefined;
    const out = this.buf.subarray(this.emitted, this.pos);
    this.emitted = this.pos;
    return out;
  }
}

/**
 * The masked dump, as an async iterable of buffers: the same bytes as `source` except text.
 * @throws HprofFormatError on a dump it cannot parse (after handing on only what it judged)
 */
export async function* maskHprof(
  source: AsyncIterable<Buffer>,
  mask: MaskText,
  stats: HprofMaskStats = newHprofMaskStats(),
): AsyncGenerator<Buffer> {
  const input = new Input(source[Symbol.asyncIterator]());
  const batch = new TextBatch(mask, stats);

  // Header: "JAVA PROFILE 1.0.2\0", u4 id size, u8 timestamp.
  await input.need(32, "the header");
  const nul = input.buf.indexOf(0, input.pos);
  if (nul < 0 || nul > 31 || !input.buf.toString("latin1", 0, HPROF_MAGIC.length).startsWith(HPROF_MAGIC)) {
    throw new HprofFormatError("not an HPROF file");
  }
  input.pos = nul + 1;
  await input.need(12, "the header");
  const idSize = input.buf.readUInt32BE(input.pos);
  if (idSize !== 4 && idSize !== 8) throw new HprofFormatError(`unsupported id size ${idSize}`);
  input.pos += 12;

  const valueSize = (type: number): number => {
    if (type === T_OBJECT) return idSize;
    const size = TYPE_SIZE[type];
    if (size === undefined) throw new HprofFormatError(`unknown basic type ${type} at ${input.offset}`);
    return size;
  };
  /** Sizes of the GC root sub-records after their tag. */
  const ROOT_SIZE: Record<number, number> = {
    255: idSize,
    1: 2 * idSize,
    2: idSize + 8,
    3: idSize + 8,
    4: idSize + 4,
    5: idSize,
    6: idSize + 4,
    7: idSize,
    8: idSize + 8,
  };
  const objectHead = 1 + 2 * idSize + 8; // instance dump and object array: up to their length/count
  const primitiveHead = 1 + idSize + 9;
  const small = WINDOW_BYTES + OVERLAP_BYTES;

  /** Passes `n` bytes through unchanged. */
  const skip = async function* (n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const step = Math.min(left, WINDOW_BYTES);
      await input.need(step, what);
      input.pos += step;
      left -= step;
      const out = input.take();
      if (out) yield out;
    }
  };

  /** Masks `n` bytes of text at `pos` alone, window by window, then moves past them. */
  const maskLarge = async function* (n: number, kind: "byte[]" | "char[]" | "utf8"): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const last = left <= small;
      const span = last ? left : small;
      await input.need(span, kind);
      if (n >= MIN_TEXT_BYTES) {
        const from = input.pos;
        if (kind === "byte[]") batch.addBytes(input.buf, from, from + span);
        else batch.add(input.buf, from, from + span, kind === "char[]" ? "utf16be" : "utf8");
        batch.flush();
      }
      const advance = last ? span : WINDOW_BYTES;
      input.pos += advance;
      left -= advance;
      const out = input.take();
      if (out) yield out;
    }
  };

  /** The absolute end of the heap dump segment being read, or -1 between records. */
  let segmentEnd = -1;

  for (;;) {
    // The common case, without an await or a generator per record: whole records in memory.
    const buf = input.buf;
    const base = input.base;
    let at = input.pos;
    for (;;) {
      if (segmentEnd >= 0) {
        const limit = Math.min(buf.length, segmentEnd - base);
        if (at === segmentEnd - base) {
          segmentEnd = -1;
          continue;
        }
        if (at >= limit) break;
        const tag = buf[at]!;
        const root = ROOT_SIZE[tag];
        if (root !== undefined) {
          if (at + 1 + root > limit) break;
          at += 1 + root;
        } else if (tag === 0x21 || tag === 0x22) {
          if (at + objectHead > limit) break;
          const total =
            objectHead +
            (tag === 0x21
              ? buf.readUInt32BE(at + objectHead - 4)
              : buf.readUInt32BE(at + 1 + idSize + 4) * idSize);
          if (at + total > limit) break;
          at += total;
        } else if (tag === 0x23) {
          if (at + primitiveHead > limit) break;
          const type = buf[at + primitiveHead - 1]!;
          const size = TYPE_SIZE[type];
          if (size === undefined) break;
          const bytes = buf.readUInt32BE(at + 1 + idSize + 4) * size;
          if (bytes > small || at + primitiveHead + bytes > limit) break;
          if (type === T_BYTE || type === T_CHAR) {
            stats.arrays++;
            const from = at + primitiveHead;
            if (bytes >= MIN_TEXT_BYTES) {
              if (type === T_BYTE) batch.addBytes(buf, from, from + bytes);
              else batch.add(buf, from, from + bytes, "utf16be");
            }
          }
          at += primitiveHead + bytes;
        } else break; // a class dump, or unknown: the slow path decides
      } else {
        if (at + 9 > buf.length) break;
        const tag = buf[at]!;
        const length = buf.readUInt32BE(at + 5);
        if (tag === TAG_UTF8) {
          if (length < idSize || length - idSize > small || at + 9 + length > buf.length) break;
          stats.records++;
          stats.symbols++;
          if (length - idSize >= MIN_TEXT_BYTES) batch.add(buf, at + 9 + idSize, at + 9 + length, "utf8");
          at += 9 + length;
        } else if (tag === TAG_HEAP_DUMP || tag === TAG_HEAP_DUMP_SEGMENT) {
          stats.records++;
          segmentEnd = base + at + 9 + length;
          at += 9;
        } else if (TEXT_FREE_RECORDS.has(tag)) {
          if (at + 9 + length > buf.length) break;
          stats.records++;
          at += 9 + length;
        } else break;
      }
    }
    input.pos = at;
    batch.flush();
    // All of it: what is kept for the next read is then only the record cut by the buffer's end.
    const out = input.take(true);
    if (out) yield out;

    // One record or sub-record that is not whole in memory, or needs more care.
    if (segmentEnd >= 0) {
      if (input.offset === segmentEnd) {
        segmentEnd = -1;
        continue;
      }
      yield* subRecord();
      if (input.offset > segmentEnd) {
        throw new HprofFormatError(`a heap dump segment overruns its length at ${segmentEnd}`);
      }
      continue;
    }
    if (!(await input.ensure(1))) break;
    await input.need(9, "a record header");
    const tag = input.buf[input.pos]!;
    const length = input.buf.readUInt32BE(input.pos + 5);
    input.pos += 9;
    stats.records++;
    if (tag === TAG_UTF8) {
      if (length < idSize) throw new HprofFormatError(`a UTF8 record shorter than an id at ${input.offset}`);
      yield* skip(idSize, "a UTF8 record");
      stats.symbols++;
      yield* maskLarge(length - idSize, "utf8");
    } else if (tag === TAG_HEAP_DUMP || tag === TAG_HEAP_DUMP_SEGMENT) {
      segmentEnd = input.offset + length;
    } else if (TEXT_FREE_RECORDS.has(tag)) {
      yield* skip(length, "a record");
    } else {
      throw new HprofFormatError(
        `unknown record 0x${tag.toString(16)} at ${input.offset - 9}; the dump is not passed on unmasked`,
      );
    }
  }
  if (segmentEnd >= 0) throw new HprofFormatError("the dump ends inside a heap dump segment");
  const rest = input.take(true);
  if (rest) yield rest;

  /** One heap dump sub-record at `pos`, whatever its size. */
  async function* subRecord(): AsyncGenerator<Buffer> {
    await input.need(1, "a heap dump sub-record");
    const tag = input.buf[input.pos]!;
    const root = ROOT_SIZE[tag];
    if (root !== undefined) {
      await input.need(1 + root, "a GC root");
      input.pos += 1 + root;
    } else if (tag === 0x20) {
      // CLASS DUMP: id, u4, 6 ids, u4; constant pool; statics; instance fields: ids and numbers.
      let at = 1 + 7 * idSize + 8;
      await input.need(at + 2, "a class dump");
      const pool = input.buf.readUInt16BE(input.pos + at);
      at += 2;
      for (let i = 0; i < pool; i++) {
        await input.need(at + 3, "a class dump");
        at += 3 + valueSize(input.buf[input.pos + at + 2]!);
      }
      await input.need(at + 2, "a class dump");
      const statics = input.buf.readUInt16BE(input.pos + at);
      at += 2;
      for (let i = 0; i < statics; i++) {
        await input.need(at + idSize + 1, "a class dump");
        at += idSize + 1 + valueSize(input.buf[input.pos + at + idSize]!);
      }
      await input.need(at + 2, "a class dump");
      const fields = input.buf.readUInt16BE(input.pos + at);
      at += 2 + fields * (idSize + 1);
      await input.need(at, "a class dump");
      input.pos += at;
    } else if (tag === 0x21 || tag === 0x22) {
      // INSTANCE DUMP (a String holds a reference, a hash and a coder: no text) and OBJECT ARRAY.
      await input.need(objectHead, "an object");
      const n =
        tag === 0x21
          ? input.buf.readUInt32BE(input.pos + objectHead - 4)
          : input.buf.readUInt32BE(input.pos + 1 + idSize + 4) * idSize;
      input.pos += objectHead;
      yield* skip(n, "an object");
    } else if (tag === 0x23) {
      await input.need(primitiveHead, "a primitive array");
      const count = input.buf.readUInt32BE(input.pos + 1 + idSize + 4);
      const type = input.buf[input.pos + primitiveHead - 1]!;
      const bytes = count * valueSize(type);
      input.pos += primitiveHead;
      if (type === T_BYTE || type === T_CHAR) {
        stats.arrays++;
        yield* maskLarge(bytes, type === T_BYTE ? "byte[]" : "char[]");
      } else {
        yield* skip(bytes, "a primitive array");
      }
    } else {
      throw new HprofFormatError(
        `unknown heap dump sub-record 0x${tag.toString(16)} at ${input.offset}; the dump is not passed on unmasked`,
      );
    }
    const out = input.take();
    if (out) yield out;
  }
}
