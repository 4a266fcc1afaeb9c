/**
 * The unescaped view of a text, for finding known values that a program wrote escaped: every
 * escape of the common families is decoded, and each character of the view knows the span of
 * source text it came from, so a known value found in the view is masked over its escaped source.
 *
 * Decoded, in one left-to-right pass (repeated for a text escaped twice or three times, such as
 * `%2541` or `&amp;lt;` or JSON inside JSON):
 * - percent-encoding `%HH`, either case of hex, any subset of characters encoded; runs of bytes
 *   that form UTF-8 become their characters, any other byte its Latin-1 character;
 * - backslash escapes of JSON, JavaScript, Go, Python, Java and C strings: `\uHHHH` (either case,
 *   surrogate pairs included: Go's `\u0026`, Python's `\u00e4`), `\u{H…}`, `\UHHHHHHHH`, `\xHH`
 *   and three-digit octal `\OOO` (bytes, as for `%HH`: C, Go, git's quoted paths), and
 *   `\" \' \\ \/ \b \f \n \r \t`;
 * - HTML and XML character references: `&amp; &lt; &gt; &quot; &apos; &nbsp;`, `&#DDD;` and
 *   `&#xHHH;`.
 * A `+` is left as it is (it is a space only in form encoding): the matcher searches a value with
 * spaces also as the value with `+` for them.
 *
 * Pure and self-contained: text in, view out.
 */

/** A decoded view: `text[i]` came from `source.slice(starts[i], ends[i])`. */
export interface UnescapedView {
  readonly text: string;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

/** The escape families, as bits: percent `%HH`; backslash `\…` (with `\xHH`); character references `&…;`. */
export const PERCENT = 1;
export const BACKSLASH = 2;
export const REFERENCE = 4;
const ALL = PERCENT | BACKSLASH | REFERENCE;

const INTRODUCER_PARTS: readonly [number, string][] = [
  [PERCENT, "%[0-9A-Fa-f]{2}"],
  [BACKSLASH, String.raw`\\[\\"'/bfnrtuxU0-3]`],
  [REFERENCE, "&(?:#[0-9xX]|[a-zA-Z]{2,4};)"],
];
/** Where an escape of the given families may start, per family set. */
const INTRODUCERS: RegExp[] = Array.from(
  { length: ALL + 1 },
  (_, families) =>
    new RegExp(
      INTRODUCER_PARTS.filter(([bit]) => families & bit)
        .map(([, source]) => source)
        .join("|") || "(?!)",
      "g",
    ),
);

/**
 * The family sets a text is unescaped with: all of them, and all but one. A value's escape-like
 * character written raw can join the text after it into an escape of another family (a password
 * ending in `\` written HTML-escaped before a `"`): leaving that family out decodes the rest.
 */
const FAMILY_SETS = [ALL, ALL & ~BACKSLASH, ALL & ~PERCENT, ALL & ~REFERENCE];

/** How many times a text is unescaped at most (an escape of an escape of an escape). */
export const MAX_UNESCAPE_DEPTH = 3;

const NAMED_REFERENCES: Record<string, number> = {
  amp: 0x26,
  lt: 0x3c,
  gt: 0x3e,
  quot: 0x22,
  apos: 0x27,
  nbsp: 0xa0,
};

const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"',
  "'": "'",
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

const HEX = "[0-9A-Fa-f]";
/** Two hex digits of an ASCII letter or digit: 0x30–0x39, 0x41–0x5A, 0x61–0x7A. */
const ALNUM_HEX = "(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa])";
/** Two hex digits of `%` or `\`: escaping one of these can start an escape of an escape. */
const INTRODUCER_HEX = "(?:25|5[Cc])";
/** After an escaped `&`: a `#`, raw or itself escaped, for a character reference to follow. */
const AFTER_AMPERSAND = String.raw`(?=[#%\\&])`;
/**
 * Where an escape may hide an ASCII letter or digit, directly or through an escape of an escape
 * (at most MAX_UNESCAPE_DEPTH deep): `%33`, `\x33`, `\063`, `\u0033`, `\u{33}`, `\U00000033`,
 * `&#51;`, `&#x33;`, and escapes of `%`, `\` or `&` that can start one (`%2533`, `%5Cu0033`,
 * `\\u0033`, `&amp;#51;`, `\u0026#51;`). Encoders leave letters and digits as they are (except
 * those that escape every character, whose runs are searched as forms); a line where one is
 * escaped anyway is decoded whatever raw piece of a value it holds (issue 16, attack finding F5:
 * `Sup\u0033rSecret` hid the value's anchor). One alternation of fixed-length pieces, no nested
 * quantifier: a linear scan.
 */
const HIDDEN_ALNUM = new RegExp(
  [
    `%(?:${ALNUM_HEX}|25${HEX}|5[Cc][uUx0-7]|26${AFTER_AMPERSAND})`,
    String.raw`\\x(?:${ALNUM_HEX}|${INTRODUCER_HEX}|26${AFTER_AMPERSAND})`,
    String.raw`\\u00(?:${ALNUM_HEX}|${INTRODUCER_HEX}|26${AFTER_AMPERSAND})`,
    String.raw`\\u\{0{0,4}(?:${ALNUM_HEX}|${INTRODUCER_HEX})\}`,
    String.raw`\\U000000(?:${ALNUM_HEX}|${INTRODUCER_HEX})`,
    String.raw`\\[01][0-7]{2}`,
    String.raw`\\\\(?:[uxU]${HEX}|[0-7])`,
    `&#0{0,4}(?:4[89]|5[0-7]|6[5-9]|[78][0-9]|9[027-9]|1[01][0-9]|12[0-2]|37);`,
    `&#0{0,4}38;${AFTER_AMPERSAND}`,
    `&#[xX]0{0,4}(?:${ALNUM_HEX}|${INTRODUCER_HEX});`,
    `&#[xX]0{0,4}26;${AFTER_AMPERSAND}`,
    `&amp;${AFTER_AMPERSAND}`,
  ].join("|"),
  "g",
);

/**
 * The index of the first escape in text[from, to) that may hide an ASCII letter or digit (see
 * HIDDEN_ALNUM), or -1.
 */
export function firstHiddenAlnum(text: string, from: number, to: number): number {
  HIDDEN_ALNUM.lastIndex = from;
  const match = HIDDEN_ALNUM.exec(text);
  return match && match.index < to ? match.index : -1;
}

/** True when `text` holds anything an unescape pass might decode. */
export function hasEscapes(text: string): boolean {
  return firstEscape(text, 0, text.length) >= 0;
}

/** The index of the first possible escape (of the given families) in text[from, to), or -1. */
export function firstEscape(text: string, from: number, to: number, families = ALL): number {
  const introducer = INTRODUCERS[families]!;
  introducer.lastIndex = from;
  const match = introducer.exec(text);
  return match && match.index < to ? match.index : -1;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** The value of `count` hex digits at `at`, or -1. */
function hexAt(text: string, at: number, count: number): number {
  if (at + count > text.length) return -1;
  let value = 0;
  for (let i = 0; i < count; i++) {
    const digit = hexValue(text.charCodeAt(at + i));
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** The value of the three octal digits `\OOO` (at most 0o377) after the backslash at `at`, or -1. */
function octalAt(text: string, at: number): number {
  const a = text.charCodeAt(at + 1) - 48;
  const b = text.charCodeAt(at + 2) - 48;
  const c = text.charCodeAt(at + 3) - 48;
  if (a < 0 || a > 3 || b < 0 || b > 7 || c < 0 || c > 7) return -1;
  return a * 64 + b * 8 + c;
}

/** A byte escape (`%HH`, `\xHH` or `\OOO`, as `families` allow) at `at`: its value, or -1. */
function byteEscapeAt(text: string, at: number, families: number): number {
  const c = text.charCodeAt(at);
  if (c === 37 /* % */ && families & PERCENT) return hexAt(text, at + 1, 2);
  if (c === 92 /* \ */ && families & BACKSLASH) {
    if (text.charCodeAt(at + 1) === 120 /* x */) return hexAt(text, at + 2, 2);
    return octalAt(text, at);
  }
  return -1;
}

/** True when a backslash at `at` starts a byte escape (`\xHH` or `\OOO`) rather than another. */
function startsByteEscape(text: string, at: number): boolean {
  const next = text.charCodeAt(at + 1);
  return next === 120 /* x */ || (next >= 48 && next <= 51) /* 0-3 */;
}

/** Bytes a UTF-8 sequence that starts with `lead` has, or 0 when `lead` starts none. */
function utf8Length(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Growable output of one pass. */
class ViewBuilder {
  text = "";
  starts: Int32Array;
  ends: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.starts = new Int32Array(Math.max(16, capacity));
    this.ends = new Int32Array(Math.max(16, capacity));
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.starts.length) return;
    const capacity = Math.max(this.length + extra, this.starts.length * 2);
    const starts = new Int32Array(capacity);
    starts.set(this.starts.subarray(0, this.length));
    this.starts = starts;
    const ends = new Int32Array(capacity);
    ends.set(this.ends.subarray(0, this.length));
    this.ends = ends;
  }

  /** Decoded characters (one or two UTF-16 units) from source[start, end). */
  push(chars: string, start: number, end: number): void {
    this.reserve(chars.length);
    for (let i = 0; i < chars.length; i++) {
      this.starts[this.length] = start;
      this.ends[this.length] = end;
      this.length++;
    }
    this.text += chars;
  }

  /** source[from, to) as it is. */
  pushRaw(source: string, from: number, to: number): void {
    if (to <= from) return;
    this.reserve(to - from);
    for (let i = from; i < to; i++) {
      this.starts[this.length] = i;
      this.ends[this.length] = i + 1;
      this.length++;
    }
    this.text += source.slice(from, to);
  }
}

/**
 * Decodes a run of byte escapes starting at `at` (UTF-8 where the bytes form it, else Latin-1,
 * one character per byte) into `out`; returns where the run ends.
 */
function decodeByteRun(text: string, at: number, out: ViewBuilder, families: number): number {
  let pos = at;
  for (;;) {
    const lead = byteEscapeAt(text, pos, families);
    if (lead < 0) return pos;
    const width = lead < 0x80 ? 1 : utf8Length(lead);
    const leadEnd = pos + (text.charCodeAt(pos) === 37 ? 3 : 4);
    if (width > 1) {
      // Collect the continuation bytes; all must be escapes of 0x80–0xBF.
      let end = leadEnd;
      let codePoint = lead & (0xff >> (width + 1));
      let ok = true;
      for (let k = 1; k < width; k++) {
        const next = byteEscapeAt(text, end, families);
        if (next < 0x80 || next > 0xbf) {
          ok = false;
          break;
        }
        codePoint = (codePoint << 6) | (next & 0x3f);
        end += text.charCodeAt(end) === 37 ? 3 : 4;
      }
      if (ok && codePoint <= 0x10ffff && !(codePoint >= 0xd800 && codePoint <= 0xdfff)) {
        out.push(String.fromCodePoint(codePoint), pos, end);
        pos = end;
        continue;
      }
    }
    out.push(String.fromCharCode(lead), pos, leadEnd);
    pos = leadEnd;
  }
}

/** Decodes one backslash escape at `at` (not a byte escape) into `out`; returns its end, or -1. */
function decodeBackslash(text: string, at: number, out: ViewBuilder): number {
  const kind = text[at + 1];
  if (kind === undefined) return -1;
  const simple = SIMPLE_ESCAPES[kind];
  if (simple !== undefined) {
    out.push(simple, at, at + 2);
    return at + 2;
  }
  if (kind === "u") {
    if (text[at + 2] === "{") {
      const close = text.indexOf("}", at + 3);
      if (close < 0 || close - at - 3 > 6 || close === at + 3) return -1;
      const value = hexAt(text, at + 3, close - at - 3);
      if (value < 0 || value > 0x10ffff) return -1;
      out.push(String.fromCodePoint(value), at, close + 1);
      return close + 1;
    }
    const unit = hexAt(text, at + 2, 4);
    if (unit < 0) return -1;
    out.push(String.fromCharCode(unit), at, at + 6);
    return at + 6;
  }
  if (kind === "U") {
    const value = hexAt(text, at + 2, 8);
    if (value < 0 || value > 0x10ffff) return -1;
    out.push(String.fromCodePoint(value), at, at + 10);
    return at + 10;
  }
  return -1;
}

/** Decodes one character reference at `at` into `out`; returns its end, or -1. */
function decodeReference(text: string, at: number, out: ViewBuilder): number {
  const semi = text.indexOf(";", at + 2);
  if (semi < 0 || semi - at > 10) return -1;
  const body = text.slice(at + 1, semi);
  let value: number | undefined;
  if (body[0] === "#") {
    const hex = body[1] === "x" || body[1] === "X";
    const digits = body.slice(hex ? 2 : 1);
    if (digits.length > 0 && (hex ? /^[0-9A-Fa-f]{1,6}$/ : /^[0-9]{1,7}$/).test(digits)) {
      value = Number.parseInt(digits, hex ? 16 : 10);
    }
  } else {
    value = NAMED_REFERENCES[body.toLowerCase()];
  }
  if (value === undefined || value > 0x10ffff) return -1;
  out.push(String.fromCodePoint(value), at, semi + 1);
  return semi + 1;
}

/** One pass with the given families; undefined when nothing in `text` decoded. */
function unescapeOnce(text: string, families: number): UnescapedView | undefined {
  let first = firstEscape(text, 0, text.length, families);
  if (first < 0) return undefined;
  const out = new ViewBuilder(text.length);
  let copied = 0;
  let decoded = false;
  while (first >= 0) {
    out.pushRaw(text, copied, first);
    let end = -1;
    const c = text.charCodeAt(first);
    if (c === 37 /* % */ || (c === 92 && startsByteEscape(text, first))) {
      end = decodeByteRun(text, first, out, families);
      if (end === first) end = -1;
    } else if (c === 92 /* \ */) end = decodeBackslash(text, first, out);
    else end = decodeReference(text, first, out);
    if (end < 0) {
      out.pushRaw(text, first, first + 1);
      end = first + 1;
    } else decoded = true;
    copied = end;
    first = firstEscape(text, copied, text.length, families);
  }
  out.pushRaw(text, copied, text.length);
  if (!decoded) return undefined;
  return {
    text: out.text,
    starts: out.starts.subarray(0, out.length),
    ends: out.ends.subarray(0, out.length),
  };
}

/** The views of `text` unescaped once, twice, … with one family set, each mapped back to `text`. */
function viewsWith(text: string, families: number, into: UnescapedView[], seen: Set<string>): void {
  let current = unescapeOnce(text, families);
  for (let depth = 1; current; depth++) {
    if (!seen.has(current.text)) {
      seen.add(current.text);
      into.push(current);
    }
    if (depth >= MAX_UNESCAPE_DEPTH) break;
    const next = unescapeOnce(current.text, families);
    if (!next) break;
    // Compose: a character of `next` spans characters [s, e) of `current`, so the source span
    // from the start of the first to the end of the last.
    const starts = new Int32Array(next.text.length);
    const ends = new Int32Array(next.text.length);
    for (let i = 0; i < next.text.length; i++) {
      starts[i] = current.starts[next.starts[i]!]!;
      ends[i] = current.ends[next.ends[i]! - 1]!;
    }
    current = { text: next.text, starts, ends };
  }
}

/**
 * The distinct views of `text` unescaped once, twice, … (at most MAX_UNESCAPE_DEPTH times) with
 * every family, and with all families but one (only with every family when `allFamiliesOnly`:
 * a quarter of the work); each mapped back to `text` itself. Empty when `text` holds no escape.
 */
export function unescapedViews(text: string, { allFamiliesOnly = false } = {}): UnescapedView[] {
  const views: UnescapedView[] = [];
  if (!hasEscapes(text)) return views;
  const seen = new Set<string>([text]);
  for (const families of allFamiliesOnly ? [ALL] : FAMILY_SETS) viewsWith(text, families, views, seen);
  return views;
}
