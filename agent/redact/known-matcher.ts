/**
 * Finding many known strings in text in one linear pass, whatever their number: a bitset of the
 * first two characters of every form rejects almost every position with two array reads, and the
 * few positions that pass are checked against the forms starting with the same four characters.
 * (A regex alternation of the forms is fast for a handful but degrades with each one added; the
 * agent may know hundreds, and log-tail and heap-snapshot strings call maskText a lot.)
 */
import type { KnownForm } from "./known-encodings.js";

/** Shortest form the matcher can hold (it keys on four characters). */
export const MIN_FORM_LENGTH = 4;

function quadAt(text: string, at: number): number {
  return (
    ((text.charCodeAt(at) & 0xff) << 24) |
    ((text.charCodeAt(at + 1) & 0xff) << 16) |
    ((text.charCodeAt(at + 2) & 0xff) << 8) |
    (text.charCodeAt(at + 3) & 0xff)
  );
}

/** Where one form was found. */
export interface KnownHit {
  readonly start: number;
  readonly end: number;
  readonly form: KnownForm;
}

/** The compiled set of forms. */
export class KnownMatcher {
  /** One bit per pair of low bytes of the first two characters of some form. */
  private readonly pairs = new Int32Array(65536 / 32);
  /** Forms by the low bytes of their first four characters, longest first. */
  private readonly byQuad = new Map<number, KnownForm[]>();

  constructor(forms: Iterable<KnownForm>) {
    for (const form of forms) {
      if (form.text.length < MIN_FORM_LENGTH) continue;
      const pair = ((form.text.charCodeAt(0) & 0xff) << 8) | (form.text.charCodeAt(1) & 0xff);
      this.pairs[pair >>> 5]! |= 1 << (pair & 31);
      const quad = quadAt(form.text, 0);
      const list = this.byQuad.get(quad);
      if (list) list.push(form);
      else this.byQuad.set(quad, [form]);
    }
    for (const list of this.byQuad.values()) list.sort((a, b) => b.text.length - a.text.length);
  }

  /**
   * The leftmost-longest, non-overlapping occurrences of the forms in `text` that `accept` takes
   * (a short value is taken only where a key names it; see known-values.ts).
   */
  find(text: string, accept: (form: KnownForm, start: number, end: number) => boolean): KnownHit[] {
    const hits: KnownHit[] = [];
    const last = text.length - MIN_FORM_LENGTH;
    if (last < 0) return hits;
    const pairs = this.pairs;
    let prev = text.charCodeAt(0) & 0xff;
    for (let i = 1; i <= last + 1; i++) {
      const c = text.charCodeAt(i) & 0xff;
      const pair = (prev << 8) | c;
      prev = c;
      if ((pairs[pair >>> 5]! & (1 << (pair & 31))) === 0) continue;
      const start = i - 1;
      const list = this.byQuad.get(quadAt(text, start));
      if (!list) continue;
      for (const form of list) {
        const end = start + form.text.length;
        if (text.startsWith(form.text, start) && accept(form, start, end)) {
          hits.push({ start, end, form });
          // Resume after the hit: the next pair starts at `end`.
          i = end;
          prev = text.charCodeAt(end) & 0xff;
          break;
        }
      }
    }
    return hits;
  }
}
