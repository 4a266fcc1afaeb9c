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
const PICTOGRAPH = /\p{Extended_Pictographic}/u;
const EMOJI_MODIFIER = /\p{Emoji_Modifier}/u;
/** Variation selectors: FVS1–4 (Mongolian), VS1–16, VS17–256. */
const VARIATION_SELECTOR = /[\u180B-\u180D\u180F\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const WHITESPACE = /\s/u;
const ZWJ = 0x200d;
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

/**
 * `text` with every control, format and invisible character shown as an escape (see the file's
 * comment). One line unless `newlines` is set; tabs escaped unless `tabs` is set. CR and ESC are
 * escaped whatever the options.
 */
export function safeText(text: string, options: SafeTextOptions = {}): string {
  // Most text has none of them: returned as it is.
  if (!UNSAFE.test(text)) return text;
  const chars = Array.from(text);
  let out = "";
  // The previous character was shown as it is and can carry a variation selector.
  let visibleBase = false;
  // Inside an emoji: a pictograph, then only skin-tone modifiers or variation selectors.
  let emoji = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    const cp = ch.codePointAt(0)!;
    let keep: boolean;
    if (cp === 0x0a) keep = options.newlines === true;
    else if (cp === 0x09) keep = options.tabs === true;
    else if (VARIATION_SELECTOR.test(ch)) keep = visibleBase;
    else if (cp === ZWJ) keep = emoji && PICTOGRAPH.test(chars[i + 1] ?? "");
    else keep = !UNSAFE.test(ch);
    out += keep ? ch : escapeCodePoint(cp);
    const selector = VARIATION_SELECTOR.test(ch);
    emoji = keep && (PICTOGRAPH.test(ch) || (emoji && (selector || EMOJI_MODIFIER.test(ch))));
    visibleBase = keep && !selector && cp !== ZWJ && !WHITESPACE.test(ch);
  }
  return out;
}
