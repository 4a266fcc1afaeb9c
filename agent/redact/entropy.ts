/**
 * The entropy rule: a long random-looking string with no other clue is masked. The exact rule
 * (also in docs/masking.md):
 *
 * - a candidate is a run of 32 to 4096 characters of [A-Za-z0-9+/_-] (a longer run is masked to
 *   its end), plus up to two `=` of padding, not inside a longer run of those characters;
 * - an absolute path (a run starting with `/` that holds another `/`) is judged segment by segment;
 * - it is kept when it is hex with optional dashes (git SHAs, trace ids, UUIDs, hex digests);
 *   when it follows `sha1-`/`sha256-`/`sha384-`/`sha512-`/`sha256:` (SRI hashes, image digests)
 *   or the `;base64,` of an image, font, audio or video data URI;
 * - otherwise it is masked when it holds upper case, lower case and digits, its Shannon entropy is
 *   at least ENTROPY_BITS_PER_CHAR, and at least MIN_CLASS_CHANGES of adjacent character pairs
 *   change class (upper/lower/digit/symbol): identifiers and paths (`node_modules/…/Version2`)
 *   have long same-class stretches, random tokens do not; or when its entropy is at least
 *   HIGH_ENTROPY_BITS_PER_CHAR with at least MIN_CLASS_CHANGES_AT_HIGH_ENTROPY class changes;
 * - except an identifier: a run of letters and digits joined by `_` (no `+`, `/`, `-`, `=`) whose
 *   words average IDENTIFIER_MEAN_WORD characters or more, in the whole run and in each part of 8+
 *   characters between underscores. V8 and Node name their builtins so
 *   (`CEntry_Return1_ArgvOnStack_NoBuiltinExit`, `StoreTypedElementJSAny_Uint8ClampedElements_0`),
 *   and a heap snapshot holds hundreds of them (issue 17): each `_` adds two class changes, which
 *   made such names pass the class-change test. A random token's words are short (random base62
 *   reads as one- and two-letter words), so only a base64url token that happens to hold `_` and no
 *   `-` can be taken for one: of 100,000 random base64url tokens, 1 more of 32 characters and
 *   none more of 40 is left in clear than without the exception; base62 and base64 tokens hold
 *   no `_` (`npm run bench -- heap-masking` prints the rule's misses).
 */
import type { Detector } from "./detector.js";

/** Shortest run judged. */
export const MIN_ENTROPY_LENGTH = 32;
/** Bits of Shannon entropy per character a run needs (random base62 of 32 characters: ~4.6). */
export const ENTROPY_BITS_PER_CHAR = 4.0;
/** Share of adjacent pairs whose character class differs (random base64: ~0.6; identifiers: < 0.25). */
export const MIN_CLASS_CHANGES = 0.35;
/**
 * A run this random by its characters needs fewer class changes. By chance, 1 random base62 token
 * of 32 characters in ~870 (of 40: 1 in ~2,200) has long same-class stretches and falls under
 * MIN_CLASS_CHANGES; with this second test, 1 in ~1,100 (of 40: 1 in ~11,500). Identifiers repeat
 * their letters: of 4,031 identifier-like runs in node_modules, one more is masked
 * (`IIoK8sApiFlowcontrolV1beta3ExemptPriorityLevelConfiguration`); at 4.5 bits it was twelve.
 */
export const HIGH_ENTROPY_BITS_PER_CHAR = 4.6;
export const MIN_CLASS_CHANGES_AT_HIGH_ENTROPY = 0.25;

/**
 * The least mean word length of an identifier (`_`-joined words; a word is a capitalised or
 * lower-case run, an all-capitals run, or a run of digits). The V8 builtin names of a Node 24
 * heap snapshot average 3.7 or more, in the whole name and in each part; of 100,000 random
 * base64url tokens (about a quarter hold `_` and no `-`), 4 of 32 characters and none of 40 pass
 * for identifiers.
 */
export const IDENTIFIER_MEAN_WORD = 3.5;

const HEXISH = /^[0-9a-fA-F-]{1,8192}$/;
const IDENTIFIER_CHARS = /^[A-Za-z0-9_]{1,8192}$/;
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
  if (core.length < MIN_ENTROPY_LENGTH || DIGEST_PREFIX.test(core)) return false;
  const before = text.slice(Math.max(0, start - 80), start);
  if (DIGEST_BEFORE.test(before) || MEDIA_DATA_URI_BEFORE.test(before)) return false;
  // An absolute path (`/tmp/app-7fGh2k/logs/x.log`): each segment is judged on its own, so a
  // random temp-folder name keeps the path readable while a token used as a segment is still masked.
  if (core.startsWith("/") && core.indexOf("/", 1) > 0) {
    return core.split("/").some((segment) => randomCore(segment));
  }
  return randomCore(core);
}

function randomCore(core: string): boolean {
  if (core.length < MIN_ENTROPY_LENGTH || HEXISH.test(core) || isIdentifier(core)) return false;
  return randomByCharacters(core);
}

/**
 * True when `run` is letters and digits joined by `_`, its words average IDENTIFIER_MEAN_WORD
 * characters or more, and so do the words of each of its `_`-separated parts of 8 or more
 * characters (a random token joined to a long name, `ConfigurationManagerFactory_<token>`, is
 * no identifier: its random part reads as short words). Words break between letters and digits,
 * before a capital that follows a lower-case letter, and before the last capital of a run of
 * capitals that a lower-case letter follows (`JSAny`: `JS`, `Any`).
 */
export function isIdentifier(run: string): boolean {
  if (!run.includes("_") || !IDENTIFIER_CHARS.test(run)) return false;
  let words = 0;
  for (const part of run.split("_")) {
    const partWords = wordCount(part);
    if (part.length >= 8 && part.length < IDENTIFIER_MEAN_WORD * partWords) return false;
    words += partWords;
  }
  const chars = run.replaceAll("_", "").length;
  return words > 0 && chars >= IDENTIFIER_MEAN_WORD * words;
}

/** The words of `part` (letters and digits), split as isIdentifier says. */
function wordCount(part: string): number {
  let words = 0;
  for (let i = 0; i < part.length; i++) {
    // upper 0, lower 1, digit 2
    const c = charClass(part.charCodeAt(i));
    const previous = i > 0 ? charClass(part.charCodeAt(i - 1)) : -1;
    const next = i + 1 < part.length ? charClass(part.charCodeAt(i + 1)) : -1;
    if (previous !== c ? !(previous === 0 && c === 1) : c === 0 && next === 1) words++;
  }
  return words;
}

/**
 * The rule's tests on the characters alone, whatever their length: upper case, lower case and
 * digits, then class changes and entropy (the two tiers above). Also used for path-shaped values
 * (plain-values.ts).
 */
export function randomByCharacters(chars: string): boolean {
  if (!/[A-Z]/.test(chars) || !/[a-z]/.test(chars) || !/[0-9]/.test(chars)) return false;
  const changes = classChangeRatio(chars);
  if (changes < MIN_CLASS_CHANGES_AT_HIGH_ENTROPY) return false;
  const bits = shannonEntropy(chars);
  return (
    bits >= HIGH_ENTROPY_BITS_PER_CHAR || (changes >= MIN_CLASS_CHANGES && bits >= ENTROPY_BITS_PER_CHAR)
  );
}

/** Character class of each code unit below 128 in a run: 1 upper, 2 lower, 4 digit, 8 `+/_-`, 0 none. */
const RUN_CLASS = new Uint8Array(128);
for (let c = 65; c <= 90; c++) RUN_CLASS[c] = 1;
for (let c = 97; c <= 122; c++) RUN_CLASS[c] = 2;
for (let c = 48; c <= 57; c++) RUN_CLASS[c] = 4;
for (const c of "+/_-") RUN_CLASS[c.charCodeAt(0)] = 8;

function runClass(code: number): number {
  return code < 128 ? RUN_CLASS[code]! : 0;
}

/**
 * The start of the first run in text[from, to) that the rule could mask: MIN_ENTROPY_LENGTH or more
 * token characters holding upper case, lower case and a digit (what looksRandom asks first), or -1.
 * `from` must be where a run may start (the start of the text or of a line). It probes the last
 * character of the next MIN_ENTROPY_LENGTH and skips past it when that is no token character, so
 * text of words and short ids is crossed at a fraction of a read per character.
 */
export function findRandomRun(text: string, from: number, to: number): number {
  let i = from;
  while (i + MIN_ENTROPY_LENGTH <= to) {
    const probe = i + MIN_ENTROPY_LENGTH - 1;
    let k = runClass(text.charCodeAt(probe));
    if (k === 0) {
      i = probe + 1;
      continue;
    }
    let classes = k;
    let back = probe - 1;
    while (back >= i) {
      k = runClass(text.charCodeAt(back));
      if (k === 0) break;
      classes |= k;
      back--;
    }
    if (back >= i) {
      i = back + 1;
      continue;
    }
    // text[i, probe] are token characters and i starts the run: read on to its end.
    let end = probe + 1;
    while (end < to) {
      k = runClass(text.charCodeAt(end));
      if (k === 0) break;
      classes |= k;
      end++;
    }
    if ((classes & 7) === 7) return i;
    i = end + 1;
  }
  return -1;
}

/** The entropy detector; applied last, so a more telling rule names a token first. */
export const ENTROPY_DETECTOR: Detector = {
  id: "high-entropy",
  description:
    "A run of 32+ base64/base64url characters mixing cases and digits with high Shannon entropy and frequent class changes (hex, digests and media data URIs excluded).",
  pattern: /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,4096}={0,2}/dg,
  quickCheck: (text) => findRandomRun(text, 0, text.length) >= 0,
  findCandidate: findRandomRun,
  validate: (secret, text, start) => looksRandom(secret, text, start),
  last: true,
  extendWhile: /[A-Za-z0-9+/_=-]/,
  samples: ["{upper:2}{digit:2}{lower:2}{alnum:34}", "{digit:1}{upper:1}{lower:1}{b64:45}=="],
};
