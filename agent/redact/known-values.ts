/**
 * Values known to be secret (each env value masked for a target, say), masked wherever they
 * reappear verbatim: in a command line, a log line, a report.
 *
 * Bounded, oldest forgotten first, so a long-running agent's memory stays flat. Values shorter
 * than MIN_KNOWN_VALUE_LENGTH are not kept: masking every "admin" or "1234" in all text would hide
 * more than it protects and would tell a reader which short words are secrets.
 */
import type { MaskPiece } from "./named-values.js";

/** Shortest value worth remembering. */
export const MIN_KNOWN_VALUE_LENGTH = 8;
/** The rule id of known values found in text. */
export const KNOWN_VALUE_RULE = "known-value";

/** The bounded set of known secret values, and their masking in text. */
export class KnownValues {
  private readonly values = new Set<string>();
  /** Longest first, so a value containing another is masked whole; rebuilt lazily after a change. */
  private sorted: string[] | undefined;

  constructor(private readonly maxValues = 1024) {}

  /** Adds a value (ignored when shorter than MIN_KNOWN_VALUE_LENGTH); returns whether it is kept. */
  add(value: string): boolean {
    if (value.length < MIN_KNOWN_VALUE_LENGTH) return false;
    if (this.values.has(value)) {
      // Refresh: a value seen again is the last to be forgotten.
      this.values.delete(value);
    } else if (this.values.size >= this.maxValues) {
      const oldest = this.values.values().next().value;
      if (oldest !== undefined) this.values.delete(oldest);
    }
    this.values.add(value);
    this.sorted = undefined;
    return true;
  }

  get size(): number {
    return this.values.size;
  }

  /**
   * Masks every occurrence of a known value in `text` (a stretch with no markers). Each value is
   * searched in what the longer values left, so masks never overlap.
   */
  mask(text: string, mask: MaskPiece): string {
    if (this.values.size === 0 || text.length < MIN_KNOWN_VALUE_LENGTH) return text;
    this.sorted ??= [...this.values].sort((a, b) => b.length - a.length);
    let pieces: { text: string; masked: boolean }[] = [{ text, masked: false }];
    for (const value of this.sorted) {
      if (!pieces.some((p) => !p.masked && p.text.includes(value))) continue;
      pieces = pieces.flatMap((p) => {
        if (p.masked || !p.text.includes(value)) return [p];
        const parts = p.text.split(value);
        const marker = { text: mask(value, KNOWN_VALUE_RULE), masked: true };
        return parts.flatMap((part, i) =>
          i === 0 ? [{ text: part, masked: false }] : [marker, { text: part, masked: false }],
        );
      });
    }
    return pieces.map((p) => p.text).join("");
  }
}
