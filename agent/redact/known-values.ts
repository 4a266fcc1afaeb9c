/**
 * Values known to be secret (each env value masked for a target, say), masked wherever they
 * reappear: verbatim, JSON-escaped, URL-encoded or base64-encoded (alone or inside a longer
 * encoded string such as Basic credentials), in a command line, a log line, a report, a heap
 * string.
 *
 * Bounded, oldest forgotten first, so a long-running agent's memory stays flat. Values shorter
 * than MIN_KNOWN_VALUE_LENGTH are masked only as the whole value of a key (`pin=4821`,
 * `"code": "4821"`): masking every "admin" or "1234" in all text would hide more than it protects
 * and would tell a reader which short words are secrets.
 */
import { formsOf, type KnownForm } from "./known-encodings.js";
import { KnownMatcher, MIN_FORM_LENGTH } from "./known-matcher.js";
import type { MaskPiece } from "./named-values.js";

/** Shortest value masked wherever it appears. */
export const MIN_KNOWN_VALUE_LENGTH = 8;
/** Shortest value remembered at all (masked only with key context below MIN_KNOWN_VALUE_LENGTH). */
export const MIN_SHORT_VALUE_LENGTH = MIN_FORM_LENGTH;
/** The rule id of known values found in text. */
export const KNOWN_VALUE_RULE = "known-value";

const BASE64_CHAR = /[A-Za-z0-9+/_-]/;
const QUOTE = /["']/;
const KEY_CHAR = /[A-Za-z0-9_.-]/;
/** What may follow a bare value for it to be the whole value. */
const VALUE_END = /[\s&,;)}\]]/;

/** True when the short value at [start, end) is the whole value of a `key=`/`key:` pair. */
function isKeyedValue(text: string, start: number, end: number): boolean {
  let i = start;
  const quote = QUOTE.test(text[i - 1] ?? "") ? text[i - 1] : undefined;
  if (quote) i--;
  for (let n = 0; n < 3 && (text[i - 1] === " " || text[i - 1] === "\t"); n++) i--;
  if (text[i - 1] !== "=" && text[i - 1] !== ":") return false;
  i--;
  for (let n = 0; n < 3 && (text[i - 1] === " " || text[i - 1] === "\t"); n++) i--;
  const before = text[i - 1] ?? "";
  if (!KEY_CHAR.test(before) && !QUOTE.test(before)) return false;
  const after = text[end];
  if (quote) return after === quote;
  return after === undefined || VALUE_END.test(after);
}

/** The bounded set of known secret values, and their masking in text. */
export class KnownValues {
  /** Value → its forms, in insertion order (oldest first). */
  private readonly values = new Map<string, KnownForm[]>();
  /**
   * Built lazily, then added to as values come; a forgotten value's forms stay in it until it is
   * rebuilt (when they outnumber the live ones) and are skipped by `live`.
   */
  private matcher: KnownMatcher | undefined;
  private forgotten = 0;
  /** A form whose value is still known. */
  private readonly live = (form: KnownForm): boolean => this.values.get(form.value) !== undefined;

  constructor(private readonly maxValues = 1024) {}

  /** Adds a value (ignored when shorter than MIN_SHORT_VALUE_LENGTH); returns whether it is kept. */
  add(value: string): boolean {
    if (value.length < MIN_SHORT_VALUE_LENGTH) return false;
    const known = this.values.get(value);
    if (known) {
      // Refresh: a value seen again is the last to be forgotten.
      this.values.delete(value);
      this.values.set(value, known);
      return true;
    }
    if (this.values.size >= this.maxValues) {
      const oldest = this.values.keys().next().value;
      if (oldest !== undefined) {
        this.values.delete(oldest);
        if (++this.forgotten > this.values.size) this.matcher = undefined;
      }
    }
    const forms: KnownForm[] =
      value.length < MIN_KNOWN_VALUE_LENGTH ? [{ text: value, kind: "short", value }] : formsOf(value);
    this.values.set(value, forms);
    const matcher = this.matcher;
    if (matcher && !forms.every((form) => matcher.add(form))) this.matcher = undefined;
    return true;
  }

  get size(): number {
    return this.values.size;
  }

  /**
   * The first occurrence of a known value's form in text[from, to), whatever surrounds it (a
   * short value's key context is judged later, by mask): the engine's prefilter.
   */
  locate(text: string, from: number, to: number): { start: number; end: number } | undefined {
    if (this.values.size === 0) return undefined;
    return this.compiled().next(text, from, to, this.live);
  }

  private compiled(): KnownMatcher {
    if (!this.matcher) {
      this.matcher = new KnownMatcher([...this.values.values()].flat());
      this.forgotten = 0;
    }
    return this.matcher;
  }

  /** Masks every occurrence of a known value's forms in `text` (a stretch with no markers). */
  mask(text: string, mask: MaskPiece): string {
    if (this.values.size === 0 || text.length < MIN_SHORT_VALUE_LENGTH) return text;
    const hits = this.compiled().find(
      text,
      (form, start, end) => this.live(form) && (form.kind !== "short" || isKeyedValue(text, start, end)),
    );
    if (hits.length === 0) return text;
    let out = "";
    let copied = 0;
    for (const hit of hits) {
      let { start, end } = hit;
      if (start < copied) continue;
      if (hit.form.kind === "base64") {
        // The core sits inside a longer encoding (of `user:password`, say): mask all of it.
        while (start > copied && BASE64_CHAR.test(text[start - 1]!)) start--;
        while (end < text.length && BASE64_CHAR.test(text[end]!)) end++;
        for (let n = 0; n < 2 && text[end] === "="; n++) end++;
        out += text.slice(copied, start) + mask(text.slice(start, end), KNOWN_VALUE_RULE);
      } else {
        out += text.slice(copied, start) + mask(text.slice(start, end), KNOWN_VALUE_RULE, hit.form.value);
      }
      copied = end;
    }
    return out + text.slice(copied);
  }
}
