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
import { anchorOf, formsOf, type KnownForm, viewFormsOf } from "./known-encodings.js";
import { type KnownHit, KnownMatcher, MIN_FORM_LENGTH } from "./known-matcher.js";
import type { MaskPiece } from "./named-values.js";
import { firstEscape, firstHiddenAlnum, unescapedViews } from "./unescape.js";

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

/**
 * Which unescaped views a text with escapes is searched in: all of them, or those decoded with
 * every family (unescape.ts).
 */
type ViewSearch = "views" | "all-families";

/** A span of text to mask, and the known value it stands for (undefined: fingerprint the text). */
interface MaskSpan {
  start: number;
  end: number;
  readonly identity: string | undefined;
}

/** The line holding `at` in text[from, to): [start, end). */
function lineAround(text: string, at: number, from: number, to: number): [number, number] {
  const start = Math.max(from, text.lastIndexOf("\n", at - 1) + 1);
  const newline = text.indexOf("\n", at);
  return [start, newline < 0 || newline > to ? to : newline];
}

/** The bounded set of known secret values, and their masking in text. */
export class KnownValues {
  /** Value → its forms, in insertion order (oldest first). */
  private readonly values = new Map<
    string,
    { forms: KnownForm[]; viewForms: KnownForm[]; anchor: KnownForm | undefined }
  >();
  /** The anchors of the values (known-encodings.ts), found in one pass. */
  private anchorMatcher: KnownMatcher | undefined;
  /** Values searched in unescaped views that have no anchor: every line with an escape is decoded. */
  private readonly anchorless = new Set<string>();
  /**
   * Built lazily, then added to as values come; a forgotten value's forms stay in it until it is
   * rebuilt (when they outnumber the live ones) and are skipped by `live`.
   */
  private matcher: KnownMatcher | undefined;
  /** The same for the forms searched in unescaped views (unescape.ts). */
  private viewMatcher: KnownMatcher | undefined;
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
        this.anchorless.delete(oldest);
        if (++this.forgotten > this.values.size) {
          this.matcher = undefined;
          this.viewMatcher = undefined;
          this.anchorMatcher = undefined;
        }
      }
    }
    const short = value.length < MIN_KNOWN_VALUE_LENGTH;
    const forms: KnownForm[] = short ? [{ text: value, kind: "short", value }] : formsOf(value);
    const viewForms: KnownForm[] = short ? [] : viewFormsOf(value);
    const anchor = short ? undefined : anchorOf(value);
    this.values.set(value, { forms, viewForms, anchor });
    if (!short && !anchor) this.anchorless.add(value);
    const anchorMatcher = this.anchorMatcher;
    if (anchorMatcher && anchor && !anchorMatcher.add(anchor)) this.anchorMatcher = undefined;
    const matcher = this.matcher;
    if (matcher && !forms.every((form) => matcher.add(form))) this.matcher = undefined;
    const viewMatcher = this.viewMatcher;
    if (viewMatcher && !viewForms.every((form) => viewMatcher.add(form))) this.viewMatcher = undefined;
    return true;
  }

  get size(): number {
    return this.values.size;
  }

  /**
   * The first occurrence of a known value's form in text[from, to), whatever surrounds it (a
   * short value's key context is judged later, by mask), or of a value in the unescaped view of a
   * line that holds escapes: the engine's prefilter.
   */
  locate(text: string, from: number, to: number): { start: number; end: number } | undefined {
    if (this.values.size === 0) return undefined;
    const hit = this.compiled().next(text, from, to, this.live);
    // Escaped occurrences on lines before the first plain one, if the stretch may hold any.
    const limit = hit ? hit.start : to;
    let at = this.cachedSearch("escape", text, from, limit, firstEscape);
    if (at < 0) return hit;
    const mayHold =
      this.anchorless.size > 0 ||
      this.anchors().next(text, from, limit, this.live) !== undefined ||
      this.cachedSearch("hidden", text, from, limit, firstHiddenAlnum) >= 0;
    if (!mayHold) return hit;
    while (at >= 0) {
      const [start, end] = lineAround(text, at, from, to);
      const how = this.escapedSearch(text, start, end);
      const found = how ? this.firstInViews(text.slice(start, end), how) : undefined;
      if (found) return { start: start + found.start, end: start + found.end };
      if (end >= limit) break;
      at = this.cachedSearch("escape", text, end + 1, limit, firstEscape);
    }
    return hit;
  }

  /** The last search of each kind: the prefilter calls locate from one place onward, again and again. */
  private readonly searches = new Map<string, { text: string; from: number; found: number }>();

  /**
   * `search(text, from)` limited to `to`, without rescanning what the last search of this kind
   * in this text scanned (a regex search runs on to the end of the text).
   */
  private cachedSearch(
    kind: string,
    text: string,
    from: number,
    to: number,
    search: (text: string, from: number, to: number) => number,
  ): number {
    const cached = this.searches.get(kind);
    let found: number;
    if (cached && cached.text === text && cached.from <= from && (cached.found < 0 || cached.found >= from)) {
      found = cached.found;
    } else {
      found = search(text, from, text.length);
      this.searches.set(kind, { text, from, found });
    }
    return found >= 0 && found < to ? found : -1;
  }

  private anchors(): KnownMatcher {
    this.anchorMatcher ??= new KnownMatcher(
      [...this.values.values()].flatMap((v) => (v.anchor ? [v.anchor] : [])),
    );
    return this.anchorMatcher;
  }

  private compiled(): KnownMatcher {
    if (!this.matcher) {
      this.matcher = new KnownMatcher([...this.values.values()].flatMap((v) => v.forms));
      this.viewMatcher = undefined;
      this.anchorMatcher = undefined;
      this.forgotten = 0;
    }
    return this.matcher;
  }

  /**
   * Whether text[from, to), which holds an escape, may hold a value escaped: it holds a value's
   * anchor raw (escapers that escape every character are searched as forms instead), some value
   * has no anchor, or an escape there may hide a letter or digit (which can hide the anchor: issue
   * 16, attack finding F5, `Sup\u0033rSecret`). Decoding only then keeps escape-heavy logs
   * (URL-encoded paths, JSON with `\"`) cheap: encoders leave letters and digits alone. Says
   * which views to search, or undefined.
   */
  private escapedSearch(text: string, from: number, to: number): ViewSearch | undefined {
    if (this.anchorless.size > 0) return "views";
    if (this.anchors().next(text, from, to, this.live) !== undefined) return "views";
    // Only the views with every family: the others serve a value whose own escape-like
    // characters are written raw, and such a value is mostly raw, its anchor with it.
    return firstHiddenAlnum(text, from, to) >= 0 ? "all-families" : undefined;
  }

  private compiledViews(): KnownMatcher {
    if (!this.viewMatcher)
      this.viewMatcher = new KnownMatcher([...this.values.values()].flatMap((v) => v.viewForms));
    return this.viewMatcher;
  }

  /** The first known value in an unescaped view of `text`, as a span of `text`. */
  private firstInViews(text: string, how: ViewSearch): { start: number; end: number } | undefined {
    const matcher = this.compiledViews();
    for (const view of unescapedViews(text, { allFamiliesOnly: how === "all-families" })) {
      const hit = matcher.next(view.text, 0, view.text.length, this.live);
      if (hit) return { start: view.starts[hit.start]!, end: view.ends[hit.end - 1]! };
    }
    return undefined;
  }

  /** Every known value in the unescaped views of `text`, as spans of `text`. */
  private spansInViews(text: string, how: ViewSearch): MaskSpan[] {
    const matcher = this.compiledViews();
    const spans: MaskSpan[] = [];
    for (const view of unescapedViews(text, { allFamiliesOnly: how === "all-families" })) {
      for (const hit of matcher.find(view.text, this.live)) {
        spans.push({
          start: view.starts[hit.start]!,
          end: view.ends[hit.end - 1]!,
          identity: hit.form.value,
        });
      }
    }
    return spans;
  }

  /** The span a form's hit masks: a base64 core grows to its whole encoded run. */
  private static spanOf(text: string, hit: KnownHit): MaskSpan {
    let { start, end } = hit;
    if (hit.form.kind !== "base64") return { start, end, identity: hit.form.value };
    // The core sits inside a longer encoding (of `user:password`, say): mask all of it.
    while (start > 0 && BASE64_CHAR.test(text[start - 1]!)) start--;
    while (end < text.length && BASE64_CHAR.test(text[end]!)) end++;
    for (let n = 0; n < 2 && text[end] === "="; n++) end++;
    return { start, end, identity: undefined };
  }

  /** Masks every occurrence of a known value's forms in `text` (a stretch with no markers). */
  mask(text: string, mask: MaskPiece): string {
    if (this.values.size === 0 || text.length < MIN_SHORT_VALUE_LENGTH) return text;
    const spans = this.compiled()
      .find(
        text,
        (form, start, end) => this.live(form) && (form.kind !== "short" || isKeyedValue(text, start, end)),
      )
      .map((hit) => KnownValues.spanOf(text, hit));
    // Escaped values line by line, each line judged on its own, as `locate` (the prefilter) does:
    // a line's verdict must not depend on what other lines share its piece of text, or masking a
    // window of lines could differ from masking the whole text (windows.ts).
    for (let at = firstEscape(text, 0, text.length); at >= 0; ) {
      const [start, end] = lineAround(text, at, 0, text.length);
      const how = this.escapedSearch(text, start, end);
      if (how) {
        for (const span of this.spansInViews(text.slice(start, end), how))
          spans.push({ ...span, start: start + span.start, end: start + span.end });
      }
      at = end < text.length ? firstEscape(text, end + 1, text.length) : -1;
    }
    if (spans.length === 0) return text;
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    // Overlapping spans are masked as one: the union, never a piece left between them.
    const merged: MaskSpan[] = [];
    for (const span of spans) {
      const last = merged.at(-1);
      if (last && span.start < last.end) last.end = Math.max(last.end, span.end);
      else merged.push({ ...span });
    }
    let out = "";
    let copied = 0;
    for (const { start, end, identity } of merged) {
      out += text.slice(copied, start) + mask(text.slice(start, end), KNOWN_VALUE_RULE, identity);
      copied = end;
    }
    return out + text.slice(copied);
  }
}
