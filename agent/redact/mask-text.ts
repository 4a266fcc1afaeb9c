/**
 * The text pipeline: shape detectors (only those whose keywords occur), then the key=value name
 * rule, then known values, then the late detectors (entropy), each applied only outside the
 * markers earlier steps wrote.
 */
import type { Detector } from "./detector.js";
import { maskKeyValues } from "./key-values.js";
import type { KnownValues } from "./known-values.js";
import { mapOutsideMarkers } from "./markers.js";
import type { MaskPiece } from "./named-values.js";
import { placeholderToken } from "./plain-values.js";
import { DetectorTriggers } from "./triggers.js";
import { windowsOf } from "./windows.js";

/**
 * Rounds of the pipeline at most. A marker changes what its neighbours look like to the next
 * rule (a token boundary appears), so the pipeline runs until a round changes nothing: that is
 * what makes masking idempotent. Real text settles in one or two rounds.
 */
const MAX_ROUNDS = 4;

/** A detector table prepared for the pipeline. */
export interface TextRules {
  readonly detectors: readonly Detector[];
  readonly triggers: DetectorTriggers;
}

/** Compiles a detector table's keyword index once per redactor. */
export function compileRules(detectors: readonly Detector[]): TextRules {
  let rules = compiled.get(detectors);
  if (!rules) {
    rules = { detectors, triggers: new DetectorTriggers(detectors) };
    compiled.set(detectors, rules);
  }
  return rules;
}

/**
 * Compiled tables by their detector array: the automaton and patterns hold no state between calls,
 * so redactors over one table share them (a redactor per case, per view or per test no longer
 * builds the ~800-keyword automaton again).
 */
const compiled = new WeakMap<readonly Detector[], TextRules>();

/** Masks every match of one detector in `text` (which holds no markers). */
export function applyDetector(text: string, detector: Detector, mask: MaskPiece, startsLine = true): string {
  if (detector.quickCheck && !detector.quickCheck(text)) return text;
  const { pattern } = detector;
  pattern.lastIndex = 0;
  let out = "";
  let copied = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    if (match[0].length === 0) {
      pattern.lastIndex++;
      continue;
    }
    // A rule that reads whole lines starts on a line: not right after a marker in mid-line (where
    // `^` would match at the piece's start), so that masking by windows and the whole text agree.
    if (detector.wholeLines && match.index === 0 && !startsLine) continue;
    if (detector.replace) {
      if (match.index < copied) continue;
      const replaced = detector.replace(match, (raw, identity) => mask(raw, detector.id, identity));
      if (replaced === undefined || replaced === match[0]) {
        // A structure spanning lines may hold the start of another one: look again from the next
        // character, so that where the text starts (the whole text or a window) does not matter.
        if (detector.multiline) pattern.lastIndex = match.index + 1;
        continue;
      }
      out += text.slice(copied, match.index) + replaced;
      copied = match.index + match[0].length;
      continue;
    }
    let span: [number, number] = [match.index, match.index + match[0].length];
    for (const group of detector.secretGroups ?? []) {
      const found = match.indices?.groups?.[group];
      if (found) {
        span = [found[0], found[1]];
        break;
      }
    }
    if (span[0] < copied) continue;
    const secret = text.slice(span[0], span[1]);
    if (detector.validate && !detector.validate(secret, text, span[0], span[1], match)) {
      if (detector.multiline) pattern.lastIndex = match.index + 1;
      continue;
    }
    if (placeholderToken(secret)) continue;
    if (detector.extendWhile) {
      // A secret longer than the pattern's bound is masked to its end.
      while (span[1] < text.length && detector.extendWhile.test(text[span[1]]!)) span[1]++;
      pattern.lastIndex = Math.max(pattern.lastIndex, span[1]);
    }
    if (detector.extendSpan) {
      span[1] = Math.max(span[1], detector.extendSpan(text, span[0], span[1]));
      pattern.lastIndex = Math.max(pattern.lastIndex, span[1]);
    }
    out += text.slice(copied, span[0]) + mask(text.slice(span[0], span[1]), detector.id);
    copied = span[1];
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * One pass of every rule; `selected` are the detectors whose keywords the window held before any
 * round (a marker only removes keywords, and a detector without its keyword matches nothing).
 */
function round(text: string, selected: readonly Detector[], known: KnownValues, mask: MaskPiece): string {
  let out = text;
  for (const detector of selected)
    if (!detector.last)
      out = mapOutsideMarkers(out, (piece, startsLine) => applyDetector(piece, detector, mask, startsLine));
  out = mapOutsideMarkers(out, (piece) => maskKeyValues(piece, mask));
  out = mapOutsideMarkers(out, (piece) => known.mask(piece, mask));
  for (const detector of selected)
    if (detector.last) out = mapOutsideMarkers(out, (piece) => applyDetector(piece, detector, mask));
  return out;
}

/**
 * Masks `text` with the given rules; throws if a rule throws (the redactor fails closed around it).
 * Only the windows the prefilter finds go through the rules (windows.ts); the rest of the text is
 * copied as it is, and a text with no window is returned itself.
 */
export function maskTextWith(text: string, rules: TextRules, known: KnownValues, mask: MaskPiece): string {
  const windows = windowsOf(text, rules.triggers, known);
  if (windows === undefined) return maskWindow(text, rules, known, mask);
  let out = "";
  let copied = 0;
  for (let i = 0; i < windows.length; i += 2) {
    const start = windows[i]!;
    const end = windows[i + 1]!;
    const window = start === 0 && end === text.length ? text : text.slice(start, end);
    const masked = maskWindow(window, rules, known, mask);
    if (masked === window) continue;
    out += text.slice(copied, start) + masked;
    copied = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * Masks `text` as one window, without the prefilter: what maskTextWith must equal (the windows
 * test compares the two).
 */
export function maskTextWhole(text: string, rules: TextRules, known: KnownValues, mask: MaskPiece): string {
  return maskWindow(text, rules, known, mask);
}

/** Masks one window of whole lines: a round of every rule, then more rounds on lines that changed. */
function maskWindow(text: string, rules: TextRules, known: KnownValues, mask: MaskPiece): string {
  const selected = rules.triggers.select(text);
  const first = round(text, selected, known, mask);
  if (first === text) return text;
  if (!first.includes("\n")) return settle(first, selected, known, mask, MAX_ROUNDS - 1);
  // Only lines the first round marked can change in later rounds (no rule but the PEM block, which
  // the first round settled, spans lines): re-running the whole window would double its cost. A line
  // the first round left alone is settled already, whatever markers it held before: running the
  // rules on it alone, out of its context (a certificate's line away from its BEGIN line), masked it
  // only when another line of the same window changed, so by windows and as a whole text differed
  // (`npm run bench -- redact-windows`, seed 1426770166).
  const before = text.split("\n");
  return first
    .split("\n")
    .map((line, i) =>
      line !== before[i] && line.includes("⟦") ? settle(line, selected, known, mask, MAX_ROUNDS - 1) : line,
    )
    .join("\n");
}

/** Runs rounds on `text` until one changes nothing, at most `rounds` of them. */
function settle(
  text: string,
  selected: readonly Detector[],
  known: KnownValues,
  mask: MaskPiece,
  rounds: number,
): string {
  let current = text;
  for (let i = 0; i < rounds; i++) {
    const next = round(current, selected, known, mask);
    if (next === current) break;
    current = next;
  }
  return current;
}
