/**
 * The text pipeline: shape detectors, then the key=value name rule, then known values, each
 * applied only outside the markers earlier steps wrote.
 */
import type { Detector } from "./detectors.js";
import { maskKeyValues } from "./key-values.js";
import type { KnownValues } from "./known-values.js";
import { mapOutsideMarkers } from "./markers.js";
import type { MaskPiece } from "./named-values.js";

/**
 * Rounds of the pipeline at most. A marker changes what its neighbours look like to the next
 * rule (a token boundary appears), so the pipeline runs until a round changes nothing: that is
 * what makes masking idempotent. Real text settles in one or two rounds.
 */
const MAX_ROUNDS = 4;

/** Masks every match of one detector in `text` (which holds no markers). */
export function applyDetector(text: string, detector: Detector, mask: MaskPiece): string {
  const { pattern } = detector;
  pattern.lastIndex = 0;
  let out = "";
  let copied = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    if (match[0].length === 0) {
      pattern.lastIndex++;
      continue;
    }
    let span: [number, number] = [match.index, match.index + match[0].length];
    for (const group of detector.secretGroups ?? []) {
      const found = match.indices?.groups?.[group];
      if (found) {
        span = found;
        break;
      }
    }
    const secret = text.slice(span[0], span[1]);
    if (detector.validate && !detector.validate(secret)) continue;
    out += text.slice(copied, span[0]) + mask(secret, detector.id);
    copied = span[1];
  }
  return out + text.slice(copied);
}

/** One pass of every rule. */
function round(text: string, detectors: readonly Detector[], known: KnownValues, mask: MaskPiece): string {
  let out = text;
  for (const detector of detectors)
    out = mapOutsideMarkers(out, (piece) => applyDetector(piece, detector, mask));
  out = mapOutsideMarkers(out, (piece) => maskKeyValues(piece, mask));
  return mapOutsideMarkers(out, (piece) => known.mask(piece, mask));
}

/** Masks `text` with the given rules; throws if a rule throws (the redactor fails closed around it). */
export function maskTextWith(
  text: string,
  detectors: readonly Detector[],
  known: KnownValues,
  mask: MaskPiece,
): string {
  let current = text;
  for (let i = 0; i < MAX_ROUNDS; i++) {
    const next = round(current, detectors, known, mask);
    if (next === current) break;
    current = next;
  }
  return current;
}
