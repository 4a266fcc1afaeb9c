/**
 * Text that someone else wrote (a log line, a request's reason or ticket, an agent's error message,
 * a label value), made safe to show on an operator's terminal or in a report: every character that
 * a terminal would act on or that a reader cannot see becomes a visible escape, and everything else
 * stays as it was.
 *
 * Escaped: the C0 and C1 controls and DEL (ESC starts CSI and OSC sequences: clearing the screen,
 * moving the cursor over earlier lines, OSC 8 hyperlinks, window titles; CR overprints a line),
 * Unicode format characters (the bidi embeddings, overrides and isolates U+202A–U+202E and
 * U+2066–U+2069, zero-width spaces and joiners, the BOM, tag characters), the line and paragraph
 * separators U+2028/U+2029, lone surrogates, and the other default-ignorable code points (Hangul
 * fillers, variation selectors out of place). Kept: every other printable character, non-ASCII
 * letters, CJK and emoji (a zero-width joiner inside an emoji sequence and a variation selector
 * right after a visible character are part of what is shown, so they stay).
 *
 * The escapes are `\n`, `\r`, `\t`, `\xNN` up to U+00FF and `\u{N}` above it (hex). A backslash in
 * the text is left alone, so the function is idempotent and paths and JSON in log lines read as
 * they are; the exact text is always in `--json`.
 */

/** Controls, format characters, separators, lone surrogates and other invisible code points. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/u;
const EACH_UNSAFE = new RegExp(UNSAFE.source, "gu");
const PICTOGRAPH = /\p{Extended_Pictographic}/u;
const EMOJI_MODIFIER = /\p{Emoji_Modifier}/u;
/** Variation selectors: FVS1–4 (Mongolian), VS1–16, VS17–256. */
const VARIATION_SELECTOR = /[\u180B-\u180D\u180F\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const WHITESPACE = /\s/u;
const ZWJ = 0x200d;
const VS16 = 0xfe0f;
const NAMED: ReadonlyMap<number, string> = new Map([
  [0x09, "\\t"],
  [0x0a, "\\n"],
  [0x0d, "\\r"],
]);

export interface SafeTextOptions {
  /** Keep line feeds as line feeds (multi-line output); otherwise each is shown as `\n`. */
  readonly newlines?: boolean;
  /** Keep tabs as tabs (log lines); otherwise each is shown as `\t`. */
  readonly tabs?: boolean;
}

/** The visible escape of one code point. */
export function escapeCodePoint(cp: number): string {
  const named = NAMED.get(cp);
  if (named) return named;
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u{${cp.toString(16)}}`;
}

/** The code point that ends just before `end` in `text` (a surrogate pair counts as one), or "". */
function before(text: string, end: number): string {
  if (end <= 0) return "";
  const low = text.charCodeAt(end - 1);
  const high = end >= 2 ? text.charCodeAt(end - 2) : 0;
  const pair = low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff;
  return text.slice(pair ? end - 2 : end - 1, end);
}

/** The code point that starts at `start` in `text`, or "". */
function after(text: string, start: number): string {
  const cp = text.codePointAt(start);
  return cp === undefined ? "" : String.fromCodePoint(cp);
}

/** A character shown as it is that a variation selector may follow. */
function isVisibleBase(ch: string): boolean {
  return ch !== "" && !UNSAFE.test(ch) && !WHITESPACE.test(ch);
}

/**
 * A zero-width joiner inside an emoji sequence: after a pictograph (with at most a skin tone or
 * VS16 between them) and before another pictograph.
 */
function joinsEmoji(text: string, at: number): boolean {
  if (!PICTOGRAPH.test(after(text, at + 1))) return false;
  let end = at;
  let previous = before(text, end);
  if (EMOJI_MODIFIER.test(previous) || previous.codePointAt(0) === VS16) {
    end -= previous.length;
    previous = before(text, end);
  }
  return previous !== "" && PICTOGRAPH.test(previous);
}

/**
 * `text` with every control, format and invisible character shown as an escape (see the file's
 * comment). One line unless `newlines` is set; tabs escaped unless `tabs` is set. CR and ESC are
 * escaped whatever the options. Only those characters are looked at, so text without any costs one
 * scan.
 */
export function safeText(text: string, options: SafeTextOptions = {}): string {
  return text.replace(EACH_UNSAFE, (ch: string, offset: number) => {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x0a && options.newlines === true) return ch;
    if (cp === 0x09 && options.tabs === true) return ch;
    if (VARIATION_SELECTOR.test(ch)) return isVisibleBase(before(text, offset)) ? ch : escapeCodePoint(cp);
    if (cp === ZWJ && joinsEmoji(text, offset)) return ch;
    return escapeCodePoint(cp);
  });
}
