/**
 * The engine's prefilter: which lines of a text any rule could change. One pass of the keyword
 * automaton (every detector's keywords and the name rule's words), the keyword-less detectors'
 * own candidate scans (the entropy rule's run scan), the known-value search and a search for
 * markers already in the text each report at most one place per line; only those lines — grown
 * where a match may run onto later lines — go through the rules. A log line with none of them
 * (most of them) costs a few table reads and is never copied.
 *
 * Why masking by windows equals masking the whole text (so it can never mask less), by
 * construction rather than by a guess about the text:
 * - every rule reads only the line a match starts on, except where the rule itself says how far it
 *   reaches: a `multiline` detector (PEM) is followed to where its match ends (its own pattern);
 *   the name rule exports `mayRunPastLine`, a necessary condition read off its two XML value
 *   patterns (the only value patterns that do not stop at a line break), and
 *   `VALUE_REACH_PAST_LINE`, the most its match reads past the line; a known value holding a line
 *   break is a span from `known.locate`. A test checks that no other detector's pattern can match
 *   a line break (windows.test.ts), and the known-value rule judges escapes line by line, as
 *   `locate` does;
 * - every match starts on a line with a trigger: a detector's match holds one of its keywords
 *   (detector.ts), the name rule's key holds one of its words, the entropy rule's run is its
 *   candidate, a known value is located where it lies;
 * - a window is a run of whole lines that holds each trigger's line and everything a rule starting
 *   there may reach, and windows that touch are merged: so each rule sees, around each match, the
 *   same characters as in the whole text, and a match never straddles two windows.
 * Until issue 17 the XML growth was a guess made here (an odd number of quotes on the line, a
 * last tag not `/>`-closed), separate from the patterns it stood for; a quote closing one value and
 * opening the next key (`value="<add key="DbPassword" value="` then a line break) fooled it, and the
 * windows masked less than the whole text.
 */
import { mayRunPastLine, VALUE_REACH_PAST_LINE } from "./key-values.js";
import type { KnownValues } from "./known-values.js";
import type { DetectorTriggers } from "./triggers.js";

function lineStart(text: string, at: number): number {
  return text.lastIndexOf("\n", at - 1) + 1;
}

function lineEnd(text: string, at: number): number {
  const end = text.indexOf("\n", at);
  return end < 0 ? text.length : end;
}

/** The end of the window that must hold text[last]: past the next line when that is a line break. */
function endHolding(text: string, last: number): number {
  return lineEnd(text, text[last] === "\n" ? last + 1 : last);
}

/** Remembers the last match of a multiline detector, so many keyword lines never rescan one far block. */
interface MultilineCursor {
  readonly pattern: RegExp;
  /** Searched from here… */
  from: number;
  /** …and the leftmost match at or after it was this (undefined: none). */
  match: { start: number; end: number } | undefined;
}

/** The end of the last match of `cursor`'s detector that starts in [start, end), or -1. */
function multilineEnd(text: string, cursor: MultilineCursor, start: number, end: number): number {
  let reach = -1;
  let from = start;
  for (;;) {
    // The leftmost match at or after `from` is the one found from any earlier point, if it lies
    // at or after `from`: the cursor saves rescanning a far block from every keyword line.
    if (!(cursor.from <= from && (cursor.match === undefined || cursor.match.start >= from))) {
      cursor.pattern.lastIndex = from;
      const m = cursor.pattern.exec(text);
      cursor.from = from;
      cursor.match = m ? { start: m.index, end: m.index + Math.max(1, m[0].length) } : undefined;
    }
    const match = cursor.match;
    if (!match || match.start >= end) return reach;
    reach = Math.max(reach, match.end);
    from = match.end;
  }
}

/** True when a line holds anything a rule could act on; cheapest test first. */
function triggered(line: string, triggers: DetectorTriggers, known: KnownValues): boolean {
  const length = line.length;
  return (
    line.includes("⟦") ||
    known.locate(line, 0, length) !== undefined ||
    triggers.candidateFinders.some((find) => find(line, 0, length) >= 0) ||
    triggers.firstKeywordEnd(line, 0, length) >= 0
  );
}

/**
 * The windows of `text` the rules must see, as [start, end) pairs of whole lines (end before the
 * line break), in order and apart; undefined when every line must be seen (a detector without
 * keywords that cannot find its own candidates).
 */
export function windowsOf(
  text: string,
  triggers: DetectorTriggers,
  known: KnownValues,
): number[] | undefined {
  if (triggers.scansEverything) return undefined;
  const length = text.length;
  // One line (a heap string, a line from the line masker): any trigger makes it the window.
  if (!text.includes("\n")) return triggered(text, triggers, known) ? [0, length] : [];
  /** [from, to) spans of text that must lie inside windows; `keyword` spans may grow. */
  const spans: { from: number; to: number; keyword: boolean }[] = [];
  for (const end of triggers.keywordLineEnds(text)) spans.push({ from: end - 1, to: end, keyword: true });
  for (const find of triggers.candidateFinders) {
    for (let at = 0; at < length; ) {
      const found = find(text, at, length);
      if (found < 0) break;
      spans.push({ from: found, to: found + 1, keyword: false });
      at = lineEnd(text, found) + 1;
    }
  }
  for (let at = 0; at < length; ) {
    const hit = known.locate(text, at, length);
    if (!hit) break;
    spans.push({ from: hit.start, to: hit.end, keyword: false });
    at = hit.end;
  }
  for (let at = text.indexOf("⟦"); at >= 0; at = text.indexOf("⟦", lineEnd(text, at) + 1)) {
    spans.push({ from: at, to: at + 1, keyword: false });
  }
  if (spans.length === 0) return [];
  spans.sort((a, b) => a.from - b.from);

  const possible: (boolean | undefined)[] = [];
  const cursors: MultilineCursor[] = triggers.multiline.map(({ pattern }) => ({
    pattern,
    from: Number.POSITIVE_INFINITY,
    match: undefined,
  }));
  const windows: number[] = [];
  for (const span of spans) {
    const last = windows.length - 1;
    // The end of the current window (the index of its line break), or -1.
    const reached = last > 0 ? windows[last]! : -1;
    // Inside the current window already: only a keyword's line may still grow it. (Without this
    // skip, many known values on one long line would each rescan the line: quadratic.)
    if (!span.keyword && span.to - 1 <= reached) continue;
    const start = span.from <= reached ? windows[last - 1]! : lineStart(text, span.from);
    let end = endHolding(text, Math.max(span.from, span.to - 1));
    if (span.keyword) {
      const firstLineStart = span.from <= reached ? lineStart(text, span.from) : start;
      const firstLineEnd = lineEnd(text, span.from);
      const firstLine = text.slice(firstLineStart, firstLineEnd);
      const woken = triggers.multiline.length > 0 ? triggers.wakes(firstLine) : [];
      for (const [i, detector] of triggers.multiline.entries()) {
        if (!woken[i]) continue;
        // No match of the detector starts on this line unless its first-line part occurs there.
        if (detector.firstLine && !detector.firstLine.test(firstLine)) continue;
        // A detector whose cheap test fails on the whole text has no match in it to follow
        // (tested once per text, the first time a line wakes it).
        if (possible[i] === undefined) possible[i] = detector.quick?.(text) ?? true;
        if (!possible[i]) continue;
        let reach = multilineEnd(text, cursors[i]!, firstLineStart, firstLineEnd);
        // The rules see the text between markers: a match may start right after a marker on this
        // line, inside a match the raw text's search took over the marker (redact-windows seed
        // 1848857057: `ParameterValue=x⟦…⟧- name: DB_PASSWORD` then `value: …` on the next line).
        for (let m = firstLine.indexOf("⟧"); m >= 0; m = firstLine.indexOf("⟧", m + 1))
          reach = Math.max(reach, multilineEnd(text, cursors[i]!, firstLineStart + m + 1, firstLineEnd));
        if (reach > 0) end = Math.max(end, endHolding(text, reach - 1));
      }
      if (mayRunPastLine(firstLine)) {
        end = Math.max(end, lineEnd(text, Math.min(length, firstLineEnd + VALUE_REACH_PAST_LINE)));
      }
    }
    if (last > 0 && start <= reached + 1) windows[last] = Math.max(reached, end);
    else windows.push(start, end);
  }
  return windows;
}
