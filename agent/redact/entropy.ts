/**
 * The entropy rule: a long random-looking string with no other clue is masked. The exact rule
 * (also in docs/masking.md):
 *
 * - a candidate is a run of 32 to 4096 characters of [A-Za-z0-9+/_-] (a longer run is masked to
 *   its end), plus up to two `=` of padding, not inside a longer run of those characters;
 * - it is kept when it is hex with optional dashes (git SHAs, trace ids, UUIDs, hex digests);
 *   when it follows `sha1-`/`sha256-`/`sha384-`/`sha512-`/`sha256:` (SRI hashes, image digests)
 *   or the `;base64,` of an image, font, audio or video data URI;
 * - otherwise it is masked when it holds upper case, lower case and digits, its Shannon entropy is
 *   at least ENTROPY_BITS_PER_CHAR, and at least MIN_CLASS_CHANGES of adjacent character pairs
 *   change class (upper/lower/digit/symbol): identifiers and paths (`node_modules/…/Version2`)
 *   have long same-class stretches, random tokens do not.
 */
import type { Detector } from "./detector.js";

/** Shortest run judged. */
export const MIN_ENTROPY_LENGTH = 32;
/** Bits of Shannon entropy per character a run needs (random base62 of 32 characters: ~4.6). */
export const ENTROPY_BITS_PER_CHAR = 4.0;
/** Share of adjacent pairs whose character class differs (random base64: ~0.6; identifiers: < 0.25). */
export const MIN_CLASS_CHANGES = 0.35;

const HEXISH = /^[0-9a-fA-F-]{1,8192}$/;
/** `sha512-…` (Subresource Integrity): the prefix is part of the run. */
const DIGEST_PREFIX = /^(?:sha1|sha256|sha384|sha512)-/i;
const DIGEST_BEFORE = /(?:sha1|sha224|sha256|sha384|sha512|md5)[-:]$/i;
const MEDIA_DATA_URI_BEFORE =
  /data:(?:image|font|audio|video)\/[A-Za-z0-9.+-]{1,40}(?:;[A-Za-z0-9=.-]{1,40}){0,3};base64,$/i;

/** Shannon entropy of `s` in bits per character. */
export function shannonEntropy(s: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

function charClass(c: number): number {
  if (c >= 65 && c <= 90) return 0;
  if (c >= 97 && c <= 122) return 1;
  if (c >= 48 && c <= 57) return 2;
  return 3;
}

/** Share of adjacent character pairs of `s` whose class differs. */
export function classChangeRatio(s: string): number {
  let changes = 0;
  for (let i = 1; i < s.length; i++)
    if (charClass(s.charCodeAt(i)) !== charClass(s.charCodeAt(i - 1))) changes++;
  return s.length > 1 ? changes / (s.length - 1) : 0;
}

/** True when `run` (found at `start` in `text`) is judged a random secret by the rule above. */
export function looksRandom(run: string, text: string, start: number): boolean {
  const core = run.replace(/={1,2}$/, "").slice(0, 4096);
  if (core.length < MIN_ENTROPY_LENGTH || HEXISH.test(core) || DIGEST_PREFIX.test(core)) return false;
  const before = text.slice(Math.max(0, start - 80), start);
  if (DIGEST_BEFORE.test(before) || MEDIA_DATA_URI_BEFORE.test(before)) return false;
  if (!/[A-Z]/.test(core) || !/[a-z]/.test(core) || !/[0-9]/.test(core)) return false;
  return classChangeRatio(core) >= MIN_CLASS_CHANGES && shannonEntropy(core) >= ENTROPY_BITS_PER_CHAR;
}

/** Token characters by code unit below 128, for the run scan. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
  TOKEN_CHAR[c.charCodeAt(0)] = 1;

/** True when `text` holds a run of MIN_ENTROPY_LENGTH token characters: a plain loop, much faster than a regex here. */
export function hasLongRun(text: string): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && TOKEN_CHAR[c] === 1) {
      if (++run >= MIN_ENTROPY_LENGTH) return true;
    } else run = 0;
  }
  return false;
}

/** The entropy detector; applied last, so a more telling rule names a token first. */
export const ENTROPY_DETECTOR: Detector = {
  id: "high-entropy",
  description:
    "A run of 32+ base64/base64url characters mixing cases and digits with high Shannon entropy and frequent class changes (hex, digests and media data URIs excluded).",
  pattern: /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,4096}={0,2}/dg,
  quickCheck: hasLongRun,
  validate: (secret, text, start) => looksRandom(secret, text, start),
  last: true,
  extendWhile: /[A-Za-z0-9+/_=-]/,
  samples: ["{upper:2}{digit:2}{lower:2}{alnum:34}", "{digit:1}{upper:1}{lower:1}{b64:45}=="],
};
