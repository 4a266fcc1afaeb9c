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
import { classifyName, nameSegments } from "./secret-names.js";

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
const DIGEST_PREFIX = /^(?:sha1|sha256|sha384|sha512|nonce)-/i;
const DIGEST_BEFORE =
  /(?:(?:sha1|sha224|sha256|sha384|sha512|md5)[-:]|(?<![A-Za-z0-9])h1:|sha-(?:1|256|384|512)=:?)$/i;
/** A value named by its key as public: `NEXT_PUBLIC_…=`, `…_PUBLISHABLE_KEY=`, a JWK's public members when the text holds `"kty"`. */
const NAME_BEFORE =
  /(?:^|[^A-Za-z0-9_.-])["']?(?<name>[A-Za-z_][A-Za-z0-9_.#-]{0,127})["']?[ \t]{0,3}[:=][ \t]{0,3}\[?[ \t]{0,3}["']?$/;
const JWK_PUBLIC_MEMBERS = new Set(["n", "e", "x", "y", "x5c", "x5t", "x5t#S256", "kid", "crv"]);
/** Last words of a name whose value is a digest, a nonce or a public challenge. */
const DIGEST_NAMES = new Set([
  "hash",
  "digest",
  "checksum",
  "sum",
  "fingerprint",
  "sha",
  "sha1",
  "sha256",
  "sha384",
  "sha512",
  "md5",
  "etag",
  "nonce",
  "challenge",
  "state",
]);
/** Stripe publishable keys are public by their prefix. */
const PUBLIC_PREFIX = /^pk_(?:live|test)_/;

/** True when the key before the run (`name=`, `"name": "`) says its value is public or an identifier. */
function publicByName(before: string, core: string): boolean {
  // `public key: …` as `wg show` and other tools print it: the name in words; and `peer: <key>`,
  // `recipient: age1…`, names whose value is someone's public key. Only for a value shaped like
  // one (a 32-byte key, an age recipient, a public DER): a private key's base64 under such a name
  // stays masked (the short attack on the corpus B rules, L-E).
  const named =
    /(?:^|[^A-Za-z])public[ _-]?key[ \t]{0,3}[:=][ \t]{0,3}["']?$/i.test(before) ||
    /(?:^|[^A-Za-z0-9_.-])(?:peer|recipients?)[ \t]{0,3}[:=][ \t]{0,3}["']?$/.test(before);
  if (named && (/^[A-Za-z0-9+/]{43}$/.test(core) || core.startsWith("age1") || publicDer(core))) return true;
  const name = NAME_BEFORE.exec(before)?.groups?.name;
  if (name === undefined) return false;
  // A JWK member is one of a JSON object: `"n": "…"`, not `n=…`.
  if (JWK_PUBLIC_MEMBERS.has(name))
    return new RegExp(`"${name}"[ \t]{0,3}:[ \t]{0,3}\\[?[ \t]{0,3}"$`).test(before);
  const segments = nameSegments(name);
  if (segments.includes("public") || segments.includes("publishable")) return true;
  // An identifier by its name (`Feedback-ID`, `requestId`, `x-amz-cf-id`) that is not a session id.
  const last = segments.at(-1);
  if (last !== undefined && DIGEST_NAMES.has(last)) return true;
  return (last === "id" || last === "ids") && !classifyName(name).secret;
}

/**
 * A run made of words and a digest or a version (`Linux-node-<sha256>`, a cache key, a build tag):
 * every part between `-`, `_` and `.` is hex of 8+ digits or a word with at most a few trailing
 * digits; random base64url has digits inside its parts.
 */
function wordsAndDigest(core: string): boolean {
  const parts = core.split(/[-_.]/);
  if (parts.length < 2 || !parts.some((p) => /^[0-9a-f]{8,}$/.test(p))) return false;
  return parts.every(
    (p) => /^[0-9a-f]{8,}$/.test(p) || /^[A-Za-z]{1,16}[0-9]{0,3}$/.test(p) || /^[0-9]{1,8}$/.test(p),
  );
}

/**
 * A value named as an identifier or a digest rather than a credential: request and trace ids
 * (`x-amz-id-2`, `x-amz-cf-id`, `x-request-id`, `traceId`), ETags, checksums. The name is the
 * structure that says what the run is.
 */
const IDENTIFIER_NAME_BEFORE =
  /(?:^|[^A-Za-z0-9_-])(?:x-amz-id-2|x-amz-cf-id|x-amz-request-id|x-amzn-requestid|x-amzn-trace-id|x-amz-version-id|x-amz-checksum-[a-z0-9]{1,16}|x-goog-hash|x-goog-generation|x-ms-request-id|x-ms-client-request-id|x-request-id|x-correlation-id|x-trace-id|x-b3-traceid|x-cloud-trace-context|cf-ray|etag|content-md5|digest|(?:request|trace|span|correlation|transaction|message|event|upload|version|execution|invocation|build|commit|run|job|parent|operation|activity)[-_ ]?id|(?:check)?sum|checksum|fingerprint|integrity|gclid|fbclid|msclkid|dclid|gbraid|wbraid|yclid|_ga|_gid)["']?[ \t]{0,3}[:=][ \t]{0,3}["']?(?:W\/\\?["'])?(?:[a-z0-9-]{1,16}=)?$/i;
const MEDIA_DATA_URI_BEFORE =
  /data:(?:image|font|audio|video)\/[A-Za-z0-9.+-]{1,40}(?:;[A-Za-z0-9=.-]{1,40}){0,3};base64,$/i;

/** `{"name": "x-amz-cf-id", "value": "` (a HAR header, a pod spec's env entry): the name is one field away. */
const NAME_FIELD_BEFORE =
  /"name"[ \t]{0,3}:[ \t]{0,3}"(?<name>[^"\\\r\n]{1,128})"[ \t]{0,3},[ \t]{0,3}"value"[ \t]{0,3}:[ \t]{0,3}"$/i;

/** The text before a run as the name rules read it: a name/value pair's name moved next to its value. */
function namedBefore(before: string): string {
  const name = NAME_FIELD_BEFORE.exec(before)?.groups?.name;
  return name === undefined ? before : `"${name}": "`;
}

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
  const before = namedBefore(text.slice(Math.max(0, start - 80), start));
  if (DIGEST_BEFORE.test(before) || MEDIA_DATA_URI_BEFORE.test(before) || IDENTIFIER_NAME_BEFORE.test(before))
    return false;
  if (PUBLIC_PREFIX.test(core) || publicByName(before, core) || wordsAndDigest(core)) return false;
  // A path (`/tmp/app-7fGh2k/logs/x.log`, or the part after `tmp.` of `/tmp/tmp.Xk3pQ9aLm2/k/test`):
  // each segment is judged on its own, so a random temp-folder name keeps the path readable while a
  // token used as a segment is still masked.
  if (pathLike(core, text, start)) return core.split("/").some((segment) => randomCore(segment));
  if (publicByShape(core, text, start)) return false;
  return randomCore(core);
}

/** The lower-case words a path is made of (`test`, `fixtures`, `node_modules`, `k`). */
const PATH_WORD = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/**
 * True when a run holding `/` is a path rather than base64: it starts with `/`, follows a path
 * (`/tmp/tmp.` before it), or two or more of its segments are lower-case words (one base64 string
 * in thousands has two such segments between its slashes).
 */
function pathLike(core: string, text: string, start: number): boolean {
  const firstSlash = core.indexOf("/");
  if (firstSlash < 0 || core.indexOf("/", firstSlash + 1) < 0) return false;
  if (core.startsWith("/")) return true;
  let words = 0;
  for (const segment of core.split("/")) {
    if (segment.length >= 2 && PATH_WORD.test(segment) && /[a-z]{2}/.test(segment)) words++;
  }
  if (words >= 2) return true;
  // `/tmp/tmp.Xk3pQ9aLm2/…`: the run continues a path that started before it.
  const lineStart = Math.max(text.lastIndexOf("\n", start - 1) + 1, start - 256);
  const before = text.slice(lineStart, start);
  return /(?:^|[\s"'=:(])(?:~|\.{1,2})?\/[A-Za-z0-9._~@%+-]{0,255}(?:\/[A-Za-z0-9._~@%+-]{0,255}){0,32}[._~@%+-]$/.test(
    before,
  );
}

/** Base64 of an SSH public key starts with the key type's length and name (`ssh-`, `ecdsa-`, `sk-`). */
function sshKeyBlob(head: string): boolean {
  const length = head.charCodeAt(3);
  return (
    head.startsWith("\u0000\u0000\u0000") &&
    length >= 7 &&
    length <= 48 &&
    /^(?:ssh-|ecdsa-|sk-|rsa-sha2-)/.test(head.slice(4))
  );
}

/** True when every character of `s` is printable ASCII, a tab or a line break. */
function printableText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x20 && c <= 0x7e) || c === 0x09 || c === 0x0a || c === 0x0d)) return false;
  }
  return true;
}

/**
 * Material that is public by its shape: an SSH public key blob (`AAAA…` that decodes to a key type),
 * base64 of a certificate or public key PEM, base64 of JSON that holds no secret name and no random
 * value (a JWT's header alone, a harmless config), a run inside a certificate or public-key PEM
 * block.
 */
function publicByShape(core: string, text: string, start: number): boolean {
  if (publicDer(core)) return true;
  if (core.startsWith("AAAA")) {
    const head = decodeBase64(core.slice(0, 32));
    if (head !== undefined && sshKeyBlob(head)) return true;
  }
  if (insidePublicPem(text, start) || insideEncrypted(text, start) || insideDkimSignature(text, start))
    return true;
  const decoded = decodeBase64(core);
  if (decoded === undefined) return false;
  if (mediaData(decoded)) return true;
  if (
    /^-----BEGIN (?:CERTIFICATE|PUBLIC KEY|X509 CRL|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|TRUSTED CERTIFICATE|PGP PUBLIC KEY BLOCK|SSH2 PUBLIC KEY|RSA PUBLIC KEY)-----/.test(
      decoded,
    )
  )
    return true;
  return harmlessJson(decoded) || harmlessConfig(decoded) || harmlessText(decoded);
}

/**
 * The first bytes of images and fonts (PNG, JPEG, GIF, WebP, ICO, WOFF): base64 media, as a
 * ConfigMap's `binaryData` or an LDIF `jpegPhoto::` holds it. Compressed or archived data
 * (gzip, zip) is not here: a Helm release stores its values, secrets included, as gzip.
 */
const MEDIA_MAGIC = [
  "\x89PNG\r\n\x1a\n",
  "\xff\xd8\xff",
  "GIF87a",
  "GIF89a",
  "\x00\x00\x01\x00",
  "wOFF",
  "wOF2",
];
function mediaData(decoded: string): boolean {
  return (
    MEDIA_MAGIC.some((magic) => decoded.startsWith(magic)) ||
    (decoded.startsWith("RIFF") && decoded.slice(8, 12) === "WEBP")
  );
}

/**
 * True for decoded text written for people (a config file, a script, a message): printable, three
 * or more words, no secret-named key (a word before `=` or `:`), no random-looking or password-like
 * word and no credentials in a URL. `nginx.conf.b64: c2VydmVyIHsK…` in a ConfigMap is such text;
 * base64 of a password or a token has no blanks, and of random bytes is not printable.
 */
function harmlessText(decoded: string): boolean {
  const body = decoded.slice(0, Math.max(0, decoded.length - 2));
  if (body.length < 24 || !printableText(body) || /:\/\/[^\s/@]{1,256}@/.test(decoded)) return false;
  const words = decoded.split(/[\s,;{}()[\]"'<>|]+/).filter((w) => w !== "");
  if (words.length < 3 || decoded.split(/\s+/).length < 3) return false;
  // `machine x login y password z` (a .netrc), `token abc`: a secret's word anywhere, not only as a key.
  if (
    /(?<![A-Za-z])(?:password|passwd|pwd|secret|token|api[_-]?key|credentials?|private)(?![a-z])/i.test(
      decoded,
    )
  )
    return false;
  for (const m of decoded.matchAll(/([A-Za-z_][\w.-]{0,127})[ \t]{0,4}[=:](?!\/\/)/g))
    if (classifyName(m[1]!).secret) return false;
  for (const word of words) {
    const bare = word.replace(/^[=:]+|[=:;.]+$/g, "");
    if (bare.length >= 16 && randomByCharacters(bare)) return false;
    if (
      bare.length >= 8 &&
      /[0-9]/.test(bare) &&
      /[A-Z!#$%&*+?@^~]/.test(bare) &&
      !/^[A-Z0-9_.:/-]{1,64}$/.test(bare)
    )
      return false;
  }
  return true;
}

/** One `key=value` or `key: value` line of a properties, INI or YAML text. */
const CONFIG_LINE =
  /^[ \t]{0,16}(?<key>[A-Za-z_][\w.-]{0,127})[ \t]{0,4}[=:][ \t]{0,4}(?<value>[^\r\n]{0,1024})$/;

/**
 * True for decoded text that is a small configuration (properties, INI, YAML lines) with no
 * secret-named key and no random-looking or password-like value.
 */
function harmlessConfig(decoded: string): boolean {
  const body = decoded.slice(0, Math.max(0, decoded.length - 2));
  if (body.length < 8 || !printableText(body)) return false;
  const lines = decoded.split(/\r?\n/).filter((l) => l.trim() !== "" && !/^[ \t]*[#;!]/.test(l));
  if (lines.length === 0) return false;
  for (const line of lines) {
    const m = CONFIG_LINE.exec(line);
    if (!m?.groups) {
      if (/^[ \t]*\[[\w. -]{1,64}\][ \t]*$/.test(line)) continue;
      // The last line of a truncated run may be cut anywhere.
      if (line === lines.at(-1) && /^[\w.-]{0,64}$/.test(line)) continue;
      return false;
    }
    if (classifyName(m.groups.key!).secret) return false;
    const value = m.groups.value!;
    for (const word of value.split(/[\s,;]+/)) {
      if (word.length >= 16 && randomByCharacters(word)) return false;
      if (
        word.length >= 8 &&
        /[0-9]/.test(word) &&
        /[A-Z!#$%&*+/=?@^~]/.test(word) &&
        !/^[A-Z0-9_.-]{1,64}$/.test(word)
      )
        return false;
    }
  }
  return true;
}

/** True when `at` is inside an encrypted value: sops `ENC[AES256_GCM,data:…,iv:…,tag:…]`. */
function insideEncrypted(text: string, at: number): boolean {
  // On the run's own line only: a search back through the whole text from every candidate made
  // masking a long text quadratic (attacker's pass on issue 17, finding R2).
  if (!textFacts(text).encrypted) return false;
  const lineStart = text.lastIndexOf("\n", at - 1) + 1;
  const open = text.slice(lineStart, at).lastIndexOf("ENC[");
  if (open < 0) return false;
  const close = text.indexOf("]", lineStart + open);
  return close < 0 || close >= at;
}

/** What the last text asked about holds, found once per text rather than once per candidate. */
let factsCache: { text: string; encrypted: boolean; signed: boolean } | undefined;
function textFacts(text: string): { encrypted: boolean; signed: boolean } {
  if (factsCache?.text !== text) {
    factsCache = {
      text,
      encrypted: text.includes("ENC["),
      signed: /DKIM-Signature|ARC-Message-Signature|ARC-Seal|Feedback-ID/i.test(text),
    };
  }
  return factsCache;
}

/**
 * True when `at` is inside a DKIM or ARC signature header (its `b=`/`bh=` tags): the signature
 * of a mail, published with it, and checked with a key from DNS.
 */
function insideDkimSignature(text: string, at: number): boolean {
  if (!textFacts(text).signed) return false;
  const from = Math.max(0, at - 4096);
  const head = text.slice(from, at);
  const found = head.search(
    /(?:Feedback-ID|DKIM-Signature|ARC-Message-Signature|ARC-Seal|X-Google-DKIM-Signature)[ \t]{0,3}:[^\n]{0,4096}(?:\r?\n[ \t][^\n]{0,4096}){0,32}$/i,
  );
  return found >= 0;
}

/**
 * base64 DER of a certificate, a public key, a CRL or a CSR: an outer SEQUENCE whose first element
 * is a SEQUENCE (tbsCertificate, AlgorithmIdentifier, tbsCertList, CertificationRequestInfo). A
 * private key's DER (PKCS#1, PKCS#8, SEC 1) starts with an INTEGER (its version) instead.
 */
/** The DER of the PKCS#5 (1.2.840.113549.1.5) and PKCS#12 (…1.12) encryption OID arcs, as Latin-1. */
const PBE_OIDS = [
  [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05],
  [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c],
].map((bytes) => String.fromCharCode(...bytes));

function publicDer(core: string): boolean {
  if (!core.startsWith("MI") || core.length < 64) return false;
  const head = decodeBase64(core.slice(0, 48));
  if (head === undefined || head.charCodeAt(0) !== 0x30) return false;
  const lengthByte = head.charCodeAt(1);
  const inner = lengthByte < 0x80 ? 2 : 2 + (lengthByte & 0x7f);
  // An encrypted private key (PKCS#8 EncryptedPrivateKeyInfo) also starts with a SEQUENCE, its
  // algorithm: a PKCS#5 or PKCS#12 password-based encryption OID (1.2.840.113549.1.5 / .1.12) says so.
  if (PBE_OIDS.some((oid) => head.includes(oid))) return false;
  return head.charCodeAt(inner) === 0x30;
}

/** base64 or base64url `run` decoded as Latin-1 text, or undefined when it is not base64. */
function decodeBase64(run: string): string | undefined {
  if (!/^[A-Za-z0-9+/_-]{4,}={0,2}$/.test(run)) return undefined;
  return Buffer.from(run.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("latin1");
}

/** A JSON member name that says secret: `"password"`, `"client_secret"`, `"token"`… */
const JSON_KEY = /"([^"\\]{1,64})"[ \t]{0,3}:/g;
const JSON_STRING_VALUE = /:[ \t]{0,3}"([^"\\]{0,512})"/g;

/**
 * True for decoded text that is JSON (or its start: a JWT header alone) holding no secret-named
 * member and no random-looking string: base64 of it hides nothing (`{"alg":"HS256","typ":"JWT"}`).
 */
function harmlessJson(decoded: string): boolean {
  if (!/^[ \t\r\n]{0,8}[[{]/.test(decoded) || decoded.length < 4 || !printableText(decoded.slice(0, -2)))
    return false;
  if (!/"[^"]{1,64}"[ \t]{0,3}:/.test(decoded)) return false;
  for (const m of decoded.matchAll(JSON_KEY)) if (classifyName(m[1]!).secret) return false;
  for (const m of decoded.matchAll(JSON_STRING_VALUE)) {
    const value = m[1]!;
    if (value.length >= 16 && (randomByCharacters(value) || /^eyJ/.test(value))) return false;
    // A password-like string (8+ characters mixing digits with capitals or symbols) is not harmless.
    if (
      value.length >= 8 &&
      /[0-9]/.test(value) &&
      /[A-Z!#$%&*+/=?@^~]/.test(value) &&
      !/^[A-Z0-9_.-]{1,64}$/.test(value)
    )
      return false;
  }
  return true;
}

/** The public PEM blocks of the last text asked about: [begin, end) pairs. */
let pemCache: { text: string; blocks: number[] } | undefined;
const PUBLIC_PEM =
  /-----BEGIN (?:CERTIFICATE|PUBLIC KEY|AGE ENCRYPTED FILE|PGP MESSAGE|ENCRYPTED MESSAGE|X509 CRL|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|TRUSTED CERTIFICATE|PGP PUBLIC KEY BLOCK|SSH2 PUBLIC KEY|RSA PUBLIC KEY)-----[\s\S]{0,65536}?(?:-----END [A-Z0-9 ]{1,40}-----|$)/g;

/** True when `at` lies inside a certificate or public-key PEM block of `text`. */
function insidePublicPem(text: string, at: number): boolean {
  if (pemCache?.text !== text) {
    const blocks: number[] = [];
    if (text.includes("-----BEGIN ")) {
      PUBLIC_PEM.lastIndex = 0;
      for (let m = PUBLIC_PEM.exec(text); m !== null; m = PUBLIC_PEM.exec(text)) {
        blocks.push(m.index, m.index + m[0].length);
        if (m[0].length === 0) PUBLIC_PEM.lastIndex++;
      }
    }
    pemCache = { text, blocks };
  }
  const { blocks } = pemCache;
  for (let i = 0; i < blocks.length; i += 2) if (at >= blocks[i]! && at < blocks[i + 1]!) return true;
  return false;
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
    // A hex part (`…_Admin_92e875d299ac0e09`, an id or hash suffix) is one word: the entropy rule
    // never masks hex alone.
    const partWords = /^[0-9a-f]{8,64}$/.test(part) ? 1 : wordCount(part);
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
