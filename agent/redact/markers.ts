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

/** A marker at exactly `lastIndex`. */
const MARKER_AT = new RegExp(MARKER_SOURCE, "y");

/**
 * Applies `fn` to every stretch of `text` outside markers and joins the pieces back, so that no
 * rule ever sees (or re-masks) what an earlier rule already replaced. Returns `text` itself when
 * `fn` changes no piece: a text with many markers is then not rebuilt by every rule.
 */
export function mapOutsideMarkers(text: string, fn: (piece: string, startsLine: boolean) => string): string {
  let at = text.indexOf("⟦");
  if (at < 0) return fn(text, true);
  let out: string | undefined;
  let last = 0;
  for (; at >= 0; at = text.indexOf("⟦", at + 1)) {
    MARKER_AT.lastIndex = at;
    if (!MARKER_AT.test(text)) continue;
    const end = MARKER_AT.lastIndex;
    if (at > last) {
      const piece = text.slice(last, at);
      const mapped = fn(piece, last === 0 || text[last - 1] === "\n");
      if (out !== undefined) out += mapped;
      else if (mapped !== piece) out = text.slice(0, last) + mapped;
    }
    if (out !== undefined) out += text.slice(at, end);
    last = end;
    at = end - 1;
  }
  const piece = text.slice(last);
  const mapped = piece === "" ? piece : fn(piece, last === 0 || text[last - 1] === "\n");
  if (out !== undefined) return out + mapped;
  return mapped === piece ? text : text.slice(0, last) + mapped;
}
