/**
 * Finding many known strings in text in one linear pass, whatever their number: a multi-pattern
 * Horspool search (Wu–Manber). The window is as long as the shortest form; the last two characters
 * of the window say how far the next form can start at the earliest, and most windows of log text
 * hold no pair of any form, so the search moves the window's whole length at a time and reads
 * about two characters in every seven. Where a pair ends a form's prefix, the forms sharing it are
 * compared. (A regex alternation of the forms is fast for a handful but degrades with each one
 * added; the agent may know hundreds, and every log line and heap string passes through here.)
 */
import type { KnownForm } from "./known-encodings.js";

/** Shortest form the matcher can hold. */
export const MIN_FORM_LENGTH = 4;

/** The low bytes of the two characters ending at `at`: the key of the shift table. */
function pairAt(text: string, at: number): number {
  return ((text.charCodeAt(at - 1) & 0xff) << 8) | (text.charCodeAt(at) & 0xff);
}

/** Where one form was found. */
export interface KnownHit {
  readonly start: number;
  readonly end: number;
  readonly form: KnownForm;
}

/** The compiled set of forms. */
export class KnownMatcher {
  /** Length of the window: the shortest form. */
  declare private readonly window: number;
  /** Pair ending at a window's end → how far the window may move (0: compare forms here). */
  declare private readonly shift: Uint8Array;
  /** Forms by the pair ending their first `window` characters, longest first. */
  declare private readonly byPair: Map<number, KnownForm[]>;

  constructor(forms: Iterable<KnownForm>) {
    // Fields set here, not as initialised class fields, which V8 handles slower in hot loops.
    this.shift = new Uint8Array(65536);
    this.byPair = new Map();
    const kept = [...forms].filter((form) => form.text.length >= MIN_FORM_LENGTH);
    this.window = Math.min(255, ...kept.map((form) => form.text.length));
    this.shift.fill(this.window - 1);
    for (const form of kept) this.add(form);
  }

  /**
   * Adds a form; false when it is shorter than the window (the matcher must then be rebuilt with
   * it, the window being the shortest form).
   */
  add(form: KnownForm): boolean {
    const { window } = this;
    if (form.text.length < window) return false;
    for (let j = 1; j < window; j++) {
      const pair = pairAt(form.text, j);
      this.shift[pair] = Math.min(this.shift[pair]!, window - 1 - j);
    }
    const pair = pairAt(form.text, window - 1);
    const list = this.byPair.get(pair);
    if (!list) this.byPair.set(pair, [form]);
    else {
      // Longest first, so the first form that matches at a place is the longest there.
      const at = list.findIndex((other) => other.text.length < form.text.length);
      list.splice(at < 0 ? list.length : at, 0, form);
    }
    return true;
  }

  /**
   * The leftmost-longest, non-overlapping occurrences of the forms in `text` that `accept` takes
   * (a short value is taken only where a key names it; see known-values.ts).
   */
  find(text: string, accept: (form: KnownForm, start: number, end: number) => boolean): KnownHit[] {
    const hits: KnownHit[] = [];
    for (let hit = this.next(text, 0, text.length, accept); hit; ) {
      hits.push(hit);
      hit = this.next(text, hit.end, text.length, accept);
    }
    return hits;
  }

  /** The leftmost-longest occurrence of any form inside text[from, to) that `accept` takes. */
  next(
    text: string,
    from: number,
    to: number,
    accept: (form: KnownForm, start: number, end: number) => boolean = () => true,
  ): KnownHit | undefined {
    const { shift, window } = this;
    if (this.byPair.size === 0) return undefined;
    for (let at = from + window - 1; at < to; ) {
      const pair = pairAt(text, at);
      const step = shift[pair]!;
      if (step !== 0) {
        at += step;
        continue;
      }
      const start = at - window + 1;
      for (const form of this.byPair.get(pair) ?? []) {
        const end = start + form.text.length;
        if (end <= to && text.startsWith(form.text, start) && accept(form, start, end)) {
          return { start, end, form };
        }
      }
      at++;
    }
    return undefined;
  }
}
