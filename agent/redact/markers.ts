/**
 * The markers that replace masked text, and the helpers that keep them opaque: once a piece is a
 * marker, no later rule looks inside it, which is what makes masking idempotent.
 */

/** What a piece of text becomes when it cannot be masked safely. */
export const WITHHELD_MARKER = "⟦withheld:redaction-error⟧";

/** Rule ids are what markers show; keep them plain so a marker is unambiguous. */
const RULE_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

const MARKER_SOURCE = "⟦(?:masked:[a-z0-9][a-z0-9-]{0,39}:[0-9a-f]{12}|withheld:[a-z0-9-]{1,40})⟧";
/**
 * Any marker this engine writes: `⟦masked:<rule>:<12 hex>⟧` or `⟦withheld:<reason>⟧`. Not global,
 * so it carries no `lastIndex` state between callers.
 */
export const MARKER_PATTERN = new RegExp(MARKER_SOURCE);
const WHOLE_MARKER = new RegExp(`^${MARKER_SOURCE}$`);

/** `⟦masked:<rule>:<fingerprint>⟧`. */
export function maskedMarker(rule: string, fingerprint: string): string {
  if (!RULE_ID.test(rule)) throw new Error(`invalid rule id: ${rule}`);
  return `⟦masked:${rule}:${fingerprint}⟧`;
}

/**
 * The line breaks inside `raw`, in order. A masked piece is followed by them so that masking never
 * changes the line count (log-tail and diff views rely on line numbers).
 */
export function lineBreaksOf(raw: string): string {
  let breaks = "";
  for (const ch of raw) {
    if (ch === "\n" || ch === "\r" || ch === "\u2028" || ch === "\u2029") breaks += ch;
  }
  return breaks;
}

/** True when the whole string is one marker. */
export function isMarker(text: string): boolean {
  return WHOLE_MARKER.test(text);
}

/**
 * Applies `fn` to every stretch of `text` outside markers and joins the pieces back, so that no
 * rule ever sees (or re-masks) what an earlier rule already replaced.
 */
export function mapOutsideMarkers(text: string, fn: (piece: string) => string): string {
  if (!text.includes("⟦")) return fn(text);
  let out = "";
  let last = 0;
  // A fresh global regex per call: matchAll would inherit a shared one's lastIndex.
  for (const match of text.matchAll(new RegExp(MARKER_SOURCE, "g"))) {
    out += fn(text.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + fn(text.slice(last));
}
