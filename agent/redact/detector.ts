/**
 * The shape of one detector: an entry of the table in detectors.ts. Rules are data, so adding a
 * token family is one entry plus its samples.
 */

/** One detector. */
export interface Detector {
  /** Shown in the marker: `⟦masked:<id>:…⟧` and in the audit counts. Lower-case, digits and dashes. */
  readonly id: string;
  readonly description: string;
  /**
   * A global pattern with the `d` flag (match indices). When one of `secretGroups` matched, only
   * that group is masked and the rest of the match (a `Bearer ` prefix, a URL's scheme, user and
   * host, a PEM block's armour lines) is kept; otherwise the whole match is masked. Only bounded
   * quantifiers: a test scans every source for `*`, `+` and `{n,}`.
   */
  readonly pattern: RegExp;
  /**
   * Literal strings one of which every match contains (case-sensitive unless `keywordsIgnoreCase`).
   * The engine finds all keywords of all detectors in one pass and runs a detector's pattern only
   * on lines holding one of its keywords: most log lines hold none, and that is what makes the
   * engine fast. Without keywords the pattern runs on every line (or on those `findCandidate`
   * points at).
   */
  readonly keywords?: readonly string[];
  readonly keywordsIgnoreCase?: boolean;
  /** Named groups holding the secret, in order of preference. */
  readonly secretGroups?: readonly string[];
  /**
   * A further check of a candidate (a checksum, its entropy, what precedes it); false keeps the
   * text. `start` and `end` locate the secret in `text`.
   */
  readonly validate?: (
    secret: string,
    text: string,
    start: number,
    end: number,
    match: RegExpExecArray,
  ) => boolean;
  /**
   * For a structure whose secrets are several pieces of one match (the cells of a table's secret
   * column, a name on one line and its value on the next): the match's replacement, built with
   * `mask` for each secret piece, or undefined to keep the match as it is. Replaces `secretGroups`
   * and `validate`.
   */
  readonly replace?: (
    match: RegExpExecArray,
    mask: (raw: string, identity?: string) => string,
  ) => string | undefined;
  /**
   * Characters the secret may continue with past the pattern's upper bound: the masked span is
   * extended over them, so a longer-than-expected secret never leaves its tail in clear.
   */
  readonly extendWhile?: RegExp;
  /** Where a secret found at [start, end) really ends, when its format says more than `extendWhile` can. */
  readonly extendSpan?: (text: string, start: number, end: number) => number;
  /** A cheap test `text` must pass for the pattern to be tried (the entropy rule's run scan). */
  readonly quickCheck?: (text: string) => boolean;
  /**
   * For a detector without keywords: the index of the first place in text[from, to) where a match
   * could lie, or -1; `from` is always the start of a line. The engine runs the detector only on
   * the lines that hold one. A keyword-less detector without it makes every line a candidate.
   */
  readonly findCandidate?: (text: string, from: number, to: number) => number;
  /**
   * A match may span lines (a PEM block): the engine hands the rule every line up to where the
   * match starting on a keyword's line ends, not just that line.
   */
  readonly multiline?: boolean;
  /**
   * For a multiline rule: the part of its pattern a match holds on the line it starts on, as its
   * own pattern (the rule's pattern is built as this source followed by the rest, and this part
   * matches no line break; `firstLineOf` builds both). The prefilter follows a match past a
   * keyword's line only where this part occurs on that line: without it, each text with a
   * keyword line paid a search of the whole text per rule woken (about half of the prefilter's
   * time on ordinary logs, measured on the throughput bench).
   */
  readonly firstLine?: RegExp;
  /**
   * The rule reads whole lines (a configuration file's line, a table, a YAML block, a transcript):
   * a sample matches only as lines of a text, not inside other text on its line.
   */
  readonly wholeLines?: boolean;
  /** Applied after the name and known-value rules, so that those name a secret first. */
  readonly last?: boolean;
  /**
   * Templates of matching samples for the tests, expanded at test time with random characters
   * (`{alnum:36}` is 36 of [A-Za-z0-9]; sets: upper, lower, digit, alnum, hex, b32, b64, b64url,
   * bech32), so the repository never holds a literal token that secret scanners flag.
   */
  readonly samples: readonly string[];
}

/**
 * A multiline rule's pattern, built from the part a match holds on its first line (`first`: a
 * source that matches no line break, ending where the line does) and the `rest`, with that first
 * part as a pattern of its own for `Detector.firstLine`. The first part is tested on the line
 * alone: `^`, `$` (with the `m` flag) and a look-behind at the line's start read the same there as
 * in the whole text, since a line break stands on both sides.
 */
export function firstLineOf(
  first: string,
  rest: string,
  flags: string,
): { pattern: RegExp; firstLine: RegExp } {
  return {
    pattern: new RegExp(first + rest, flags),
    firstLine: new RegExp(first, flags.replace(/[gdy]/g, "")),
  };
}
