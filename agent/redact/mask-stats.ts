/**
 * Audit counts: how many markers of each rule a call wrote — never the values. Counted from the
 * output (markers present after, minus those already there before), so a value masked twice on
 * its way through the pipeline counts once and re-masking masked text counts nothing.
 */

/** Markers written, per rule id (`redaction-error` for withheld pieces). */
export type MaskCounts = Record<string, number>;

const ANY_MARKER = /⟦(?:masked:([a-z0-9][a-z0-9-]{0,39}):[0-9a-f]{12}|withheld:[a-z0-9-]{1,40})⟧/g;

/** Markers in `text` per rule. */
export function countMarkers(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!text.includes("⟦")) return counts;
  for (const match of text.matchAll(ANY_MARKER)) {
    const rule = match[1] ?? "redaction-error";
    counts.set(rule, (counts.get(rule) ?? 0) + 1);
  }
  return counts;
}

/** Adds to `into` the markers `after` holds beyond those of `before`. */
export function addNewMarkers(into: MaskCounts, before: string, after: string): void {
  if (after === before || !after.includes("⟦")) return;
  const old = countMarkers(before);
  for (const [rule, n] of countMarkers(after)) {
    const added = n - (old.get(rule) ?? 0);
    if (added > 0) into[rule] = (into[rule] ?? 0) + added;
  }
}
