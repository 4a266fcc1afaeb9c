/**
 * The forms a known secret value takes when it reappears in other text: verbatim, JSON-escaped,
 * URL-encoded, and base64 (standard and URL-safe) — the latter also inside a longer encoded
 * string such as the base64 of `user:password` in a Basic authorization header.
 */

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

/**
 * The base64 characters that encode `value` whatever precedes it, for each of the three byte
 * alignments it can have inside a longer encoded string: the characters touched by the unknown
 * bytes before or after it are cut off.
 */
export function base64Cores(value: string, alphabet: "base64" | "base64url"): string[] {
  const bytes = Buffer.from(value, "utf8");
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
  for (const core of base64Cores(value, "base64")) add(core, "base64");
  for (const core of base64Cores(value, "base64url")) add(core, "base64");
  return [...forms.values()];
}
