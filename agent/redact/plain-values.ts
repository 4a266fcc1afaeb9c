/**
 * Values that are plainly not secrets even under a secret-sounding name: `PASSWORD_MIN_LENGTH=12`,
 * `SESSION_TIMEOUT=30m`, `AUTH_ENABLED=true`, `TOKEN_URL=https://idp/token`. Each rule is narrow on
 * purpose: a value that merely *looks* harmless (a word, a short string) stays masked.
 */
import { randomByCharacters } from "./entropy.js";

const BOOLEAN_LIKE = /^(?:true|false|yes|no|on|off|enabled|disabled|none|null|nil|undefined)$/i;
/** Short numbers only: a 6-digit PIN under a secret name is still a secret. */
const SHORT_NUMBER = /^[+-]?[0-9]{1,4}(?:\.[0-9]{1,4})?$/;
const DURATION = /^(?:[0-9]{1,9}(?:\.[0-9]{1,9})?(?:ns|us|µs|ms|s|m|h|d|w)){1,6}$/;
/** An absolute, home- or dot-relative path made of ordinary path characters. */
const PATH = /^(?:~|\.{1,2})?\/[A-Za-z0-9._@%+=,:~-]{0,255}(?:\/[A-Za-z0-9._@%+=,:~-]{0,255}){0,63}$/;
/** A URL whose authority carries no userinfo (`user:pass@`); its query is still checked by the text rules. */
const URL_WITHOUT_USERINFO = /^[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/[^\s/?#@]{1,255}(?:[/?#]\S{0,8192})?$/;
/** A reference to another variable, resolved elsewhere: `${DB_PASSWORD}`, `$(DB_PASSWORD)`, `$DB_PASSWORD`. */
const VARIABLE_REFERENCE =
  /^\$(?:\{[A-Za-z_][A-Za-z0-9_]{0,127}\}|\([A-Za-z_][A-Za-z0-9_]{0,127}\)|[A-Za-z_][A-Za-z0-9_]{0,127})$/;
/** A PEM armour line: the body after it is masked by its own rule. */
const PEM_ARMOUR = /^-----(?:BEGIN|END) [A-Z0-9 ]{1,60}-----$/;
/** A YAML block scalar indicator (`key: |`): the value is on the next lines. */
const YAML_BLOCK = /^[|>][+-]?[0-9]?$/;
/** An already-redacted placeholder. */
const PLACEHOLDER = /^(?:\*{1,64}|<redacted>|\[redacted\]|redacted)$/i;

/** Tried in order; the first that matches names why the value is shown. */
export const PLAIN_RULES: readonly (readonly [string, RegExp])[] = [
  ["boolean", BOOLEAN_LIKE],
  ["number", SHORT_NUMBER],
  ["duration", DURATION],
  ["path", PATH],
  ["url", URL_WITHOUT_USERINFO],
  ["variable-reference", VARIABLE_REFERENCE],
  ["placeholder", PLACEHOLDER],
  ["pem-armour", PEM_ARMOUR],
  ["yaml-block", YAML_BLOCK],
];

/** Shortest run of path characters (slashes aside) judged for randomness. */
const MIN_RANDOM_PATH_CHARS = 20;

/**
 * Whether a path-shaped value is rather base64 noise: a secret may start with `/` and hold more of
 * them (`sig=/C3Zx…/irsJ61…+vU%3D`, one base64 string in 64 starts so). Judged on its characters
 * with the slashes taken out, by the entropy rule's tests at a shorter length: real paths
 * (`/var/lib/app/keys`, `/tmp/app-7fGh2k/logs/x.log`) have long same-class stretches.
 */
function randomPath(path: string): boolean {
  const chars = path.replaceAll("/", "");
  return chars.length >= MIN_RANDOM_PATH_CHARS && randomByCharacters(chars);
}

/** Why `value` is plainly not a secret (`"empty"`, `"number"`, `"path"`…), or undefined if it may be one. */
export function plainValueKind(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed === "") return "empty";
  if (trimmed.length > 8192) return undefined;
  for (const [kind, pattern] of PLAIN_RULES) {
    if (!pattern.test(trimmed)) continue;
    return kind === "path" && randomPath(trimmed) ? undefined : kind;
  }
  return undefined;
}
