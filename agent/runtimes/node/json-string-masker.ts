/**
 * Masks every string value of a JSON text while it streams, chunk by chunk, leaving everything
 * else byte for byte: keys, numbers, punctuation, whitespace.
 *
 * Written for V8 heap snapshots, whose secrets can only be in strings: the node and edge arrays
 * are numbers, the meta section's names are keys and field names, and every string of the heap
 * sits in the final `"strings":[…]` array. Masking every string value rather than only that
 * array's keeps the transform correct if the layout changes, and it costs nothing elsewhere: the
 * long numeric arrays are skipped with native `indexOf('"')`.
 *
 * Each string token (escapes, surrogates, split across chunks) is decoded with JSON.parse, masked,
 * and re-encoded with JSON.stringify only if masking changed it, so the number of strings, and so
 * the snapshot's structure, is identical. A string is a key when the next non-blank character is
 * `:`, which needs no bracket tracking.
 */

/** A string longer than this (in UTF-16 units) is replaced whole rather than held in memory. */
export const MAX_STRING_UNITS = 16 * 1024 * 1024;

/** JSON's insignificant whitespace. */
const WHITESPACE = /[ \t\n\r]/;

type State = "outside" | "string" | "after";

/** Streaming masker of JSON string values. `write` and `end` return the text to emit. */
export class JsonStringMasker {
  private state: State = "outside";
  /** The raw string token so far, opening quote included. */
  private pending = "";
  /** Length of the run of backslashes that ends `pending`: odd means the next character is escaped. */
  private backslashRun = 0;
  private oversized = false;
  /** Blanks between a complete string and the character that tells key from value. */
  private gap = "";
  /** How many string values were masked (changed), for the log. */
  maskedCount = 0;
  /** How many string values were seen. */
  valueCount = 0;

  /**
   * @param mask masks one decoded string value
   * @param withheld the replacement of an oversized string value
   */
  constructor(
    private readonly mask: (value: string) => string,
    private readonly withheld: string,
  ) {}

  /** Feeds the next chunk; returns what can be emitted so far. */
  write(chunk: string): string {
    let out = "";
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.state === "outside") {
        const quote = chunk.indexOf('"', pos);
        if (quote < 0) {
          out += pos === 0 ? chunk : chunk.slice(pos);
          break;
        }
        out += chunk.slice(pos, quote);
        this.backslashRun = 0;
        this.oversized = false;
        // Most strings close in the chunk they open in: taken in one slice, not built up.
        let close = chunk.indexOf('"', quote + 1);
        while (close >= 0 && this.isEscaped(chunk, quote + 1, close)) close = chunk.indexOf('"', close + 1);
        if (close >= 0 && close - quote < MAX_STRING_UNITS) {
          this.pending = chunk.slice(quote, close + 1);
          this.gap = "";
          this.state = "after";
          pos = close + 1;
          continue;
        }
        this.pending = '"';
        this.state = "string";
        pos = quote + 1;
      } else if (this.state === "string") {
        let quote = chunk.indexOf('"', pos);
        while (quote >= 0 && this.isEscaped(chunk, pos, quote)) quote = chunk.indexOf('"', quote + 1);
        if (quote < 0) {
          this.append(chunk, pos, n);
          break;
        }
        this.append(chunk, pos, quote + 1);
        this.gap = "";
        this.state = "after";
        pos = quote + 1;
      } else {
        while (pos < n && WHITESPACE.test(chunk[pos]!)) this.gap += chunk[pos++];
        if (pos === n) break;
        out += this.finishToken(chunk[pos] === ":");
      }
    }
    return out;
  }

  /** Ends the input; throws if it ends inside a string (a truncated document). */
  end(): string {
    if (this.state === "string") throw new Error("the JSON text ends inside a string");
    if (this.state === "after") return this.finishToken(false);
    return "";
  }

  /** True when the quote at `quote` is preceded by an odd run of backslashes (counting `pending`). */
  private isEscaped(chunk: string, from: number, quote: number): boolean {
    let run = 0;
    let i = quote - 1;
    while (i >= from && chunk.charCodeAt(i) === 0x5c) {
      run++;
      i--;
    }
    if (i < from) run += this.backslashRun;
    return run % 2 === 1;
  }

  private append(chunk: string, from: number, to: number): void {
    let run = 0;
    let i = to - 1;
    while (i >= from && chunk.charCodeAt(i) === 0x5c) {
      run++;
      i--;
    }
    this.backslashRun = i < from ? this.backslashRun + run : run;
    if (this.oversized) return;
    if (this.pending.length + (to - from) > MAX_STRING_UNITS) {
      this.oversized = true;
      this.pending = "";
      return;
    }
    this.pending += chunk.slice(from, to);
  }

  private finishToken(isKey: boolean): string {
    const raw = this.pending;
    const gap = this.gap;
    this.pending = "";
    this.gap = "";
    this.state = "outside";
    if (this.oversized) {
      this.valueCount++;
      this.maskedCount++;
      return JSON.stringify(this.withheld) + gap;
    }
    if (isKey) return raw + gap;
    this.valueCount++;
    // Without a backslash the token is its value between the quotes: no JSON.parse needed.
    const value = raw.includes("\\") ? (JSON.parse(raw) as string) : raw.slice(1, -1);
    const masked = this.mask(value);
    if (masked === value) return raw + gap;
    this.maskedCount++;
    return JSON.stringify(masked) + gap;
  }
}
