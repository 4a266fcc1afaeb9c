/**
 * Masking a value found under a name (an environment variable, a `--flag`, a `key=value` pair):
 * the name decides whether the value is a secret, the value's shape decides how much of it to
 * keep. Shared by mask-env, mask-argv and the key=value rule of mask-text so that the three
 * agree.
 */
import { KNOWN_VALUE_RULE } from "./known-values.js";
import { isMarker } from "./markers.js";
import { KEY_ID, plainValueKind } from "./plain-values.js";
import { classifyName } from "./secret-names.js";

/**
 * Replaces one raw secret with its marker (keeping its line breaks). The fingerprint is of
 * `identity` when given (the known value an encoded form stands for), else of `raw`.
 */
export type MaskPiece = (raw: string, rule: string, identity?: string) => string;

/** A URL with userinfo but no password: `https://<key>@host/…` (e.g. a Sentry DSN). */
const URL_USER_ONLY = /^(?<keep>[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/)(?<user>[^\s/?#@:]{1,256})@/d;
/** `Server=db;User Id=app;Password=…` or `DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…`. */
const CONNECTION_STRING = /^(?:[A-Za-z][A-Za-z0-9 ]{0,40}=[^;]{0,2048};){2,32}/;
const URL_START = /^[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\//;
const SCHEMES =
  "Bearer|Basic|Digest|Token|Negotiate|NTLM|ApiKey|AWS4-HMAC-SHA256|SharedKey|SSWS|Splunk|GenieKey|Key";
const AUTH_SCHEME_WORD = new RegExp(String.raw`^(?:${SCHEMES})[ \t]{0,4}$`, "i");
/** An HTTP authorization scheme word, kept in front of the credentials it introduces. */
const AUTH_SCHEME = new RegExp(String.raw`^(?<scheme>(?:${SCHEMES})[ \t]{1,4})(?<rest>\S[\s\S]*)$`, "i");

/** An Authorization header's parameter list (`a=b, c="d"`), after its scheme word. */
const PARAMETER_LIST =
  /^[A-Za-z]{1,32}="?[^",]{0,4096}"?(?:,[ \t]{0,4}[A-Za-z]{1,32}="?[^",]{0,4096}"?){1,16}$/;
/** The parameters of such a list that carry the secret part. */
const SECRET_PARAMETERS = new Set([
  "signature",
  "response",
  "password",
  "secret",
  "token",
  "oauth_signature",
]);

/** Rules that say less about a value than the name it sits under. */
const WEAK_RULES = [KNOWN_VALUE_RULE, "high-entropy"];

/** Names seen recently and their verdicts: text repeats the same few keys over and over. */
const verdicts = new Map<string, boolean>();
const MAX_VERDICTS = 2048;

/** True when the name holds a secret (not merely refers to one). */
export function isSecretName(name: string): boolean {
  let verdict = verdicts.get(name);
  if (verdict === undefined) {
    const info = classifyName(name);
    verdict = info.secret && !info.reference;
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(name, verdict);
  }
  return verdict;
}

/** True when the name marks its value as secret and the value is not plainly harmless. */
export function isSecretUnderName(name: string, value: string): boolean {
  if (!isSecretName(name) || plainValueKind(value) !== undefined) return false;
  // git's `user.signingkey`: a PGP key id, public.
  // (git's own name only: a `JWT_SIGNING_KEY` in upper-case hex is an HMAC key — short attack, L-L)
  if (/^(?:user\.)?signingkey$/i.test(name) && KEY_ID.test(value.trim())) return false;
  // A session id or a cookie's value is long and random: words under a name that only says session
  // or cookie (`sso_session = acme` names a section of ~/.aws/config, Laravel's `[cookie] =>
  // orders_session` a cookie) are a reference.
  return !(SESSION_ONLY.test(name) && /^[a-z]{2,12}(?:[_.-][a-z]{2,12}){0,4}$/.test(value.trim()));
}

/** A name whose only secret word is a session or a cookie (`sso_session`, `cookie`), not a password or a key. */
const SESSION_ONLY =
  /^(?!.*(?:pass|pwd|secret|token|key|cred|auth|sid|id$))[\w.-]*(?:sess(?:ion)?|cookie)[\w.-]*$/i;

/**
 * The masked form of a value already judged secret by its name. `shaped` is the value after the
 * shape rules ran on it (the value itself when they already ran on the surrounding text):
 * - one detected token → that marker (its rule is more telling than the name's), unless it is
 *   only a known value or high entropy: then the name's rule, so a variable's marker does not
 *   depend on which action happened to learn the value first, nor on how random it looks;
 * - a URL → only its password (or user-only key) masked, scheme, host and path kept;
 * - `Bearer …` and other scheme words → the word kept, the credentials masked;
 * - anything else → the whole value masked under `rule`.
 */
export function maskSecretValue(value: string, shaped: string, rule: string, mask: MaskPiece): string {
  if (isMarker(shaped) && !WEAK_RULES.some((rule) => shaped.startsWith(`⟦masked:${rule}:`))) return shaped;
  // A scheme word alone (`Authorization: Bearer ⟦…⟧` once the token is masked) is not a secret.
  if (AUTH_SCHEME_WORD.test(value)) return shaped;
  // A connection string keeps its structure: its secret parts were judged key by key.
  if (CONNECTION_STRING.test(value)) return shaped;
  if (URL_START.test(value)) {
    if (shaped !== value) return shaped;
    const userOnly = URL_USER_ONLY.exec(value);
    const user = userOnly?.indices?.groups?.user;
    if (userOnly?.groups?.user && user) {
      return value.slice(0, user[0]) + mask(userOnly.groups.user, "url-userinfo") + value.slice(user[1]);
    }
  }
  const scheme = AUTH_SCHEME.exec(value);
  if (scheme?.groups?.scheme && scheme.groups.rest) {
    // `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` and `Digest username=…,
    // response=…`: a list of parameters, of which only the signature or response is secret.
    const params = PARAMETER_LIST.test(scheme.groups.rest) ? scheme.groups.rest : undefined;
    if (params !== undefined) {
      return (
        scheme.groups.scheme +
        params.replace(
          /(?<name>[A-Za-z]{1,32})=(?<q>"?)(?<v>[^",]{1,4096})\k<q>/g,
          (whole, name: string, q: string, v: string) =>
            SECRET_PARAMETERS.has(name.toLowerCase()) && !/^⟦/.test(v)
              ? `${name}=${q}${mask(v, rule)}${q}`
              : whole,
        )
      );
    }
    return scheme.groups.scheme + mask(scheme.groups.rest, rule);
  }
  return mask(value, rule);
}
