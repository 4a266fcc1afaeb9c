/**
 * The name rule inside free text: `key=value`, `key: value`, `"key": "value"`, `--key=value`,
 * `X-Api-Key: value`. When the key is a secret name (secret-names.ts) and the value is not plainly
 * harmless, the value becomes a marker; the key, quotes and separator stay.
 */
import { isSecretName, isSecretUnderName, type MaskPiece, maskSecretValue } from "./named-values.js";

/** The rule id of values masked because of their key. */
export const SECRET_NAME_RULE = "secret-name";

/**
 * A key, optional quotes around it, and `=` or `:`. Only the key is matched here: the value is
 * parsed only after the key turned out to be a secret name, so text full of ordinary `a: b`
 * pairs costs one short match each, never a scan to the end of the line.
 */
export const KEY_PATTERN =
  /(?<![A-Za-z0-9_.-])-{0,2}(?<q>["']?)(?<key>[A-Za-z_][A-Za-z0-9_.-]{0,127})\k<q>[ \t]{0,3}(?<sep>[=:])[ \t]{0,3}/dg;

/** Longest value a value pattern takes; a longer one is extended in code (see extendValue). */
const MAX_VALUE = 4096;

/*
 * Both value patterns: a quoted value (masked inside its quotes); an opening quote never closed on
 * its line (masked to the end of the line: failing closed); or a bare value, which never starts
 * with a quote, so the quote left before a marker is not taken for a value on the next round.
 */
/** After `=`, a bare value: to whitespace, `&` (query strings), a quote, or `,`/`;` + space. */
export const VALUE_AFTER_EQUALS =
  /"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"|'(?<sq>[^'\r\n]{1,4096})'|["'](?<unclosed>[^\r\n]{1,4096})|(?<bare>(?:[^\s&"'`,;]|[,;](?!\s)){1,4096})/y;
/** A quoted value, or after `:` (YAML, HTTP headers, "Key: value" logs) the rest of the line: such values may hold spaces. */
export const VALUE_AFTER_COLON =
  /"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"|'(?<sq>[^'\r\n]{1,4096})'|["'](?<unclosed>[^\r\n]{1,4096})|(?<line>[^\r\n"'][^\r\n]{0,4095})/y;

const BARE_VALUE_CHAR = /[^\s&"'`,;]/;

/** Where a value that filled the pattern's bound really ends: a longer secret must not leave its tail in clear. */
function extendValue(text: string, end: number, kind: "line" | "bare"): number {
  let i = end;
  if (kind === "line") {
    while (i < text.length && text[i] !== "\n" && text[i] !== "\r") i++;
  } else {
    while (i < text.length && BARE_VALUE_CHAR.test(text[i]!)) i++;
  }
  return i;
}

/** The span of the value that starts at `at`, or undefined when there is none. */
function valueSpan(text: string, at: number, sep: string): [number, number] | undefined {
  const pattern = sep === "=" ? VALUE_AFTER_EQUALS : VALUE_AFTER_COLON;
  pattern.lastIndex = at;
  const match = pattern.exec(text);
  const groups = match?.groups;
  if (!match || !groups) return undefined;
  if (groups.dq !== undefined || groups.sq !== undefined) return [at + 1, at + match[0].length - 1];
  const kind = groups.bare !== undefined ? "bare" : "line";
  const start = groups.unclosed !== undefined ? at + 1 : at;
  let end = at + match[0].length;
  if (end - start >= MAX_VALUE) end = extendValue(text, end, kind);
  // Trailing blanks of a line are layout, not part of the value.
  while (kind === "line" && end > start && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
  return end > start ? [start, end] : undefined;
}

/** Masks the values of secret-named keys in `text` (which holds no markers). */
export function maskKeyValues(text: string, mask: MaskPiece): string {
  if (!text.includes("=") && !text.includes(":")) return text;
  let out = "";
  let copied = 0;
  KEY_PATTERN.lastIndex = 0;
  for (let match = KEY_PATTERN.exec(text); match !== null; match = KEY_PATTERN.exec(text)) {
    const key = match.groups?.key ?? "";
    const sep = match.groups?.sep ?? "=";
    const after = match.index + match[0].length;
    // Not a secret key: go on right after the separator, so `a: token=x` still finds `token=x`.
    if (!isSecretName(key)) continue;
    const span = valueSpan(text, after, sep);
    if (!span) continue;
    const value = text.slice(span[0], span[1]);
    if (!isSecretUnderName(key, value)) continue;
    out += text.slice(copied, span[0]) + maskSecretValue(value, value, SECRET_NAME_RULE, mask);
    copied = span[1];
    KEY_PATTERN.lastIndex = span[1];
  }
  return out + text.slice(copied);
}
