/**
 * The forms a known secret value takes when it reappears in other text. Two mechanisms, which
 * docs/masking.md lists as one table:
 *
 * - **forms searched as they are** (`formsOf`): the value verbatim, JSON-escaped and URL-encoded
 *   (the fast path for the commonest escapings), and base64 / base64url of its UTF-8, UTF-16LE and
 *   UTF-16BE bytes — the latter also inside a longer encoded string such as the base64 of
 *   `user:password` in a Basic authorization header;
 * - **the value searched in the unescaped view** of a text that holds escapes (`viewFormsOf`,
 *   unescape.ts): percent-encoding of any subset of characters in either case of hex (twice
 *   encoded too), JSON/JS/Go/Python/Java/C backslash escapes (`\u0026`, `\u00e4`, `\xHH`),
 *   HTML/XML entities and character references, and these nested in one another.
 */

import { unescapedViews } from "./unescape.js";

/** How a form is matched and masked. */
export type FormKind =
  /** Masked exactly where found. */
  | "exact"
  /** A base64 core: the whole enclosing base64 run is masked (it encodes the secret and more). */
  | "base64"
  /** A short value (under MIN_KNOWN_VALUE_LENGTH): masked only as the whole value of a key. */
  | "short";

/** One searchable form of a known value. */
export interface KnownForm {
  readonly text: string;
  readonly kind: FormKind;
  /** The known value it encodes: the marker's fingerprint is the value's, whatever its form. */
  readonly value: string;
}

/** Shortest base64 core kept: shorter ones would match random base64 by chance. */
const MIN_CORE = 8;
/** Shortest unescaped view of a value searched (the shortest value masked wherever it appears). */
const MIN_VIEW_FORM = 8;

/** The byte encodings of a value whose base64 is searched. */
export type TextEncoding = "utf8" | "utf16le" | "utf16be";

function bytesOf(value: string, encoding: TextEncoding): Buffer {
  if (encoding !== "utf16be") return Buffer.from(value, encoding);
  return Buffer.from(value, "utf16le").swap16();
}

/**
 * The base64 characters that encode `value` whatever precedes it, for each of the three byte
 * alignments it can have inside a longer encoded string: the characters touched by the unknown
 * bytes before or after it are cut off.
 */
export function base64Cores(
  value: string,
  alphabet: "base64" | "base64url",
  encoding: TextEncoding = "utf8",
): string[] {
  const bytes = bytesOf(value, encoding);
  const cores: string[] = [];
  for (let pad = 0; pad < 3; pad++) {
    const encoded = Buffer.concat([Buffer.alloc(pad), bytes])
      .toString(alphabet)
      .replace(/=+$/, "");
    const core = encoded.slice(Math.ceil((8 * pad) / 6), Math.floor((8 * (pad + bytes.length)) / 6));
    if (core.length >= MIN_CORE) cores.push(core);
  }
  return cores;
}

/** Every form of a value of at least MIN_KNOWN_VALUE_LENGTH characters, deduplicated. */
export function formsOf(value: string): KnownForm[] {
  const forms = new Map<string, KnownForm>();
  const add = (text: string, kind: FormKind) => {
    if (!forms.has(text)) forms.set(text, { text, kind, value });
  };
  add(value, "exact");
  add(JSON.stringify(value).slice(1, -1), "exact");
  const uri = encodeURIComponent(value);
  add(uri, "exact");
  add(uri.replace(/%20/g, "+"), "exact");
  for (const encoding of ["utf8", "utf16le", "utf16be"] as const) {
    for (const core of base64Cores(value, "base64", encoding)) add(core, "base64");
    for (const core of base64Cores(value, "base64url", encoding)) add(core, "base64");
  }
  for (const form of everyCharacterEscaped(value)) add(form, "exact");
  return [...forms.values()];
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/**
 * The value with every character escaped, as obfuscating encoders write it: every UTF-8 byte as
 * `%hh`, every UTF-16 unit as `\uhhhh`, every character as `&#ddd;` or `&#xhh;`, in either case of
 * hex. Searched as they are: such a run holds no raw piece of the value (no anchor, below) for the
 * unescaped-view search to start from.
 */
function everyCharacterEscaped(value: string): string[] {
  const bytes = [...Buffer.from(value, "utf8")].map((b) => `%${hex(b, 2)}`).join("");
  const units = Array.from({ length: value.length }, (_, i) => `\\u${hex(value.charCodeAt(i), 4)}`).join("");
  const points = [...value].map((c) => c.codePointAt(0)!);
  const hexRefs = points.map((p) => `&#x${hex(p, 1)};`).join("");
  return [
    bytes,
    bytes.toUpperCase(),
    units,
    units.replace(/[0-9a-f]{4}/g, (h) => h.toUpperCase()),
    points.map((p) => `&#${p};`).join(""),
    hexRefs,
    hexRefs.replace(/&#x([0-9a-f]+);/g, (_, h: string) => `&#x${h.toUpperCase()};`),
  ];
}

/**
 * What is searched in the unescaped views of a text (unescape.ts): the value, and the value's own
 * unescaped views. A view decodes every escape it sees, including escape-like characters of the
 * value itself (a password holding `%AA` or `\f`), so the view of an encoded value is the value's
 * own view, not always the value. Each also with `+` for every space (form encoding writes a space
 * as `+`, which the views leave as it is). Views shorter than MIN_KNOWN_LENGTH are left out: they
 * would match too much.
 */
export function viewFormsOf(value: string): KnownForm[] {
  const forms = new Map<string, KnownForm>();
  for (const text of [value, ...unescapedViews(value).map((view) => view.text)]) {
    if (text.length < MIN_VIEW_FORM) continue;
    forms.set(text, { text, kind: "exact", value });
    if (text.includes(" ")) {
      const plus = text.replaceAll(" ", "+");
      forms.set(plus, { text: plus, kind: "exact", value });
    }
  }
  return [...forms.values()];
}

/** Shortest raw anchor kept: shorter runs of letters and digits would be found everywhere. */
const MIN_ANCHOR = 4;
const MAX_ANCHOR = 16;

/**
 * A piece of `value` that every listed escaping leaves as it is, unless it escapes every
 * character: its longest run of ASCII letters and digits (no percent, JSON, HTML or byte escaper
 * touches those), cut to MAX_ANCHOR; undefined when that run is shorter than MIN_ANCHOR. A line
 * holding an escaped form of the value holds its anchor raw, or a run of escapes.
 */
export function anchorOf(value: string): KnownForm | undefined {
  let best = "";
  for (const run of value.match(/[A-Za-z0-9]+/g) ?? []) if (run.length > best.length) best = run;
  if (best.length < MIN_ANCHOR) return undefined;
  return { text: best.slice(0, MAX_ANCHOR), kind: "exact", value };
}
