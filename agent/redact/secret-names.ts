/**
 * Does a variable, flag or key name say its value is a secret?
 *
 * Names are split into segments on `_`, `-`, `.`, spaces and camelCase (`awsSecretAccessKey` →
 * aws·secret·access·key) and judged by whole segments, so `AUTHOR` and `TOKENIZER_PATH` are not
 * secrets while `GITHUB_TOKEN`, `DB_PASSWORD` and `apiKey` are. A name that *refers* to a secret
 * (`SECRET_NAME`, `PASSWORD_FILE`, `TOKEN_TTL`) is a reference: its value is shown unless its
 * shape says secret.
 */

/** Segments that mark a secret wherever they appear in a name. */
const SECRET_SEGMENTS = new Set([
  "pass",
  "pwd",
  "passwd",
  "password",
  "passwords",
  "passphrase",
  "secret",
  "secrets",
  "token",
  "tokens",
  "auth",
  "authorization",
  "credential",
  "credentials",
  "creds",
  "session",
  "sessions",
  "cookie",
  "cookies",
  "signature",
  "dsn",
  "jwt",
  "salt",
  "bearer",
  "apikey",
  "apikeys",
  "privatekey",
  "accesskey",
  "secretkey",
  "authtoken",
  "accesstoken",
  "refreshtoken",
  "clientsecret",
  "connstr",
  "pw",
  "passcode",
  "passkey",
  "pin",
  "psk",
  "community",
]);

/**
 * Secret words of other languages, mapped onto the English segment they stand for, so that
 * `mot_de_passe`, `contraseña`, `Passwort`, `hasło`, `пароль` and `パスワード` are judged like
 * `password`, and `clave`, `Schlüssel` or `ключ` like `key` (a generic name on its own, a secret
 * one with a qualifier). Compared after lower-casing; accents are matched as written and without.
 */
const TRANSLATIONS = new Map<string, string>([
  // password
  ...[
    "passwort",
    "kennwort",
    "contraseña",
    "contrasena",
    "contraseñas",
    "senha",
    "hasło",
    "haslo",
    "пароль",
    "пароли",
    "パスワード",
    "暗証番号",
    "wachtwoord",
    "lösenord",
    "losenord",
    "passord",
    "salasana",
    "heslo",
    "şifre",
    "sifre",
    "parola",
    "parolă",
    "jelszó",
    "jelszo",
    "adgangskode",
    "κωδικός",
    "密码",
    "密碼",
    "口令",
    "비밀번호",
    "암호",
    "mdp",
    "motdepasse",
    "lozinka",
    "geslo",
  ].map((w) => [w, "password"] as const),
  // secret
  ...[
    "geheimnis",
    "geheim",
    "secreto",
    "secreta",
    "segredo",
    "segreto",
    "sekret",
    "секрет",
    "секретный",
    "秘密",
    "シークレット",
    "机密",
    "기밀",
    "secrète",
    "secrete",
  ].map((w) => [w, "secret"] as const),
  // token
  ...["jeton", "токен", "トークン", "令牌", "토큰", "gettone"].map((w) => [w, "token"] as const),
  // credentials
  ...[
    "zugangsdaten",
    "identifiants",
    "credenciales",
    "credenziali",
    "credenciais",
    "учетные",
    "認証情報",
    "凭据",
  ].map((w) => [w, "credentials"] as const),
  // key (generic alone, like `key`)
  ...[
    "clave",
    "llave",
    "chave",
    "chiave",
    "klucz",
    "ключ",
    "schlüssel",
    "schluessel",
    "sleutel",
    "nyckel",
    "anahtar",
    "clé",
    "cle",
    "鍵",
    "キー",
    "密钥",
    "秘密鍵",
    "키",
  ].map((w) => [w, "key"] as const),
  // private
  ...[
    "privada",
    "privado",
    "privée",
    "privee",
    "privata",
    "privato",
    "privat",
    "prywatny",
    "приватный",
    "закрытый",
  ].map((w) => [w, "private"] as const),
]);
/** The words of other languages this module translates (the name rule's scan looks for each). */
export const TRANSLATED_WORDS: readonly string[] = [...TRANSLATIONS.keys()];

/** Multi-word spellings, matched on adjacent segments: `mot de passe`, `clé privée` → one segment. */
const PHRASES = new Map<string, string>([
  ["mot de passe", "password"],
  ["parola d ordine", "password"],
  ["palavra passe", "password"],
  ["code secret", "secret"],
]);

/** Names of session identifiers, as segments joined by spaces, and as one word. */
const SESSION_IDS = new Set([
  "session id",
  "sess id",
  "session key",
  "connect sid",
  "user session",
  "session token",
]);
const SESSION_ID_WORDS = new Set(["sessionid", "sessid", "jsessionid", "phpsessid", "aspsessionid"]);

/** Secret segments too short to trust inside a camel-case run. */
const SHORT_SEGMENTS = new Set(["pw", "pin", "psk", "pwd"]);

/** Substrings that mark a secret even inside a run-together segment (`DBPASSWORD`, `MYAPIKEY`). */
const SECRET_SUBSTRINGS = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "credential",
  "apikey",
  "privatekey",
  "masterkey",
  "signingkey",
  "sessionkey",
  "secretkey",
  "encryptionkey",
  "privkey",
  "storepass",
  "keypass",
  "requirepass",
  "masterauth",
  "bindpw",
  "rootpw",
];

/** Adjacent segment pairs that mark a secret (`API_KEY`, `private-key`, `ConnectionString`). */
const SECRET_PAIRS = new Set([
  "key api",
  "key secret",
  "key private",
  "key access",
  "otp seed",
  "totp seed",
  "mfa seed",
  "2fa seed",
  "otp secret",
  "totp secret",
  "api key",
  "private key",
  "access key",
  "signing key",
  "encryption key",
  "master key",
  "connection string",
]);

/** `<x>_KEY` is a secret unless x says it is a public or data key. */
const PUBLIC_KEY_QUALIFIERS = new Set([
  "public",
  // an SSH host key and a verification key are public halves
  "host",
  "verification",
  "verify",
  "primary",
  "sort",
  "partition",
  "foreign",
  "cache",
  "routing",
  "shard",
  "hash",
  "lookup",
  "idempotency",
  "object",
]);

/**
 * Last segments that make a name a *reference* to a secret or a setting about it, not the secret:
 * `SECRET_NAME=db-credentials`, `PASSWORD_FILE=/run/secrets/db`, `TOKEN_TTL=3600`.
 */
const REFERENCE_SUFFIXES = new Set([
  "name",
  "names",
  "file",
  "files",
  "path",
  "paths",
  "dir",
  "id",
  "ids",
  "ref",
  "arn",
  "type",
  "mode",
  "kind",
  "enabled",
  "disabled",
  "enable",
  "required",
  "length",
  "len",
  "size",
  "count",
  "ttl",
  "timeout",
  "expiry",
  "expires",
  "expiration",
  "age",
  "seconds",
  "ms",
  "rounds",
  "iterations",
  "interval",
  "retries",
  "limit",
  "header",
  "field",
  "param",
  "prefix",
  "suffix",
  "version",
  "region",
  "provider",
  "algorithm",
  "alg",
  "format",
  "endpoint",
  "host",
  "port",
  "domain",
  "location",
  "policy",
  "strategy",
  "backend",
  "store",
  "issuer",
  "audience",
  "user",
  "username",
  // settings about a secret rather than the secret (`password_hash_algo`, `session.save_handler`,
  // `password_encryption = scram-sha-256`, `cookie_consent`)
  "hash",
  "digest",
  "checksum",
  "fingerprint",
  "handler",
  "algo",
  "method",
  "methods",
  "driver",
  "engine",
  "scheme",
  "encryption",
  "hashing",
  "cipher",
  "complexity",
  "strength",
  "rotation",
  "reset",
  "lifetime",
  "duration",
  "validity",
  "encoding",
  "charset",
  "consent",
  "stdin",
  "mechanism",
  "mechanisms",
  "source",
  "realm",
  "class",
  "banner",
  "preferences",
  "label",
  "labels",
  "description",
  "hint",
  "prompt",
  "message",
  "url",
  "uri",
  "ref",
  "refs",
  // a class or a source file named after a secret (`BearerTokenAuthenticationFilter : …`,
  // `BadCredentialsException: Bad credentials`, `JwtAuthenticationProvider.java:97`)
  "filter",
  "exception",
  "error",
  "errors",
  "provider",
  "controller",
  "service",
  "manager",
  "factory",
  "impl",
  "interceptor",
  "converter",
  "resolver",
  "repository",
  "helper",
  "utils",
  "util",
  "validator",
  "processor",
  "listener",
  "adapter",
  "generator",
  "builder",
  "parser",
  "encoder",
  "decoder",
  "java",
  "go",
  "py",
  "js",
  "ts",
  "rb",
  "kt",
  "scala",
  "cs",
  "php",
  "rs",
]);

/** Names whose words say secret but whose value is public by definition. */
const NOT_SECRET_NAMES = new Set([
  "dkim signature",
  "x google dkim signature",
  "arc message signature",
  "arc seal",
  "x amz credential",
  "x goog credential",
  "x amz algorithm",
  "x goog algorithm",
]);

/** A host name: dot-separated labels ending in a top-level or cluster domain. */
const HOST_NAME =
  /^[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,10}\.(?:local|internal|lan|svc|cluster|com|net|org|io|dev|cloud|corp|example|test|localhost)$/i;

/** Longest name prefix inspected: names are short, and this bounds the work on hostile input. */
const MAX_NAME_LENGTH = 256;

/** The lower-case segments of a name, other languages' secret words translated (TRANSLATIONS). */
export function nameSegments(name: string): string[] {
  const raw = name
    .slice(0, MAX_NAME_LENGTH)
    // NFD (`contraseña` written on macOS) and compatibility forms read as their plain letters.
    .normalize("NFKC")
    .replace(/([\p{Ll}0-9])(\p{Lu})/gu, "$1 $2")
    .replace(/(\p{Lu}{1,64})(\p{Lu}\p{Ll})/gu, "$1 $2")
    .toLowerCase()
    .split(/[^\p{L}\p{M}\p{N}]{1,256}/u)
    .filter((s) => s !== "");
  if (!raw.some((s) => s.charCodeAt(0) > 127 || TRANSLATIONS.has(s) || PHRASE_STARTS.has(s))) return raw;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    let phrase: string | undefined;
    for (const length of [4, 3, 2]) {
      const words = raw.slice(i, i + length).join(" ");
      phrase = PHRASES.get(words);
      if (phrase) {
        i += length - 1;
        break;
      }
    }
    const segment = phrase ?? raw[i]!;
    out.push(TRANSLATIONS.get(segment) ?? translateRunTogether(segment));
  }
  return out;
}

/** First words of PHRASES. */
const PHRASE_STARTS = new Set([...PHRASES.keys()].map((p) => p.split(" ")[0]!));

/** A segment that runs a translated word into others (`パスワード確認`, `dbpasswort`): its English word. */
function translateRunTogether(segment: string): string {
  for (const [word, english] of TRANSLATIONS) {
    if ((word.length >= 6 || word.charCodeAt(0) > 127) && segment.includes(word)) return english;
  }
  return segment;
}

/** Names too generic in free text (`"key": "user:42"`, `auth: ok`, `clave: …`) to mask a value that does not look random. */
const GENERIC_SEGMENTS = new Set(["key", "keys", "auth", "session", "sessions"]);

/** True when the name is one generic word (`key`, `auth`, `session`, or `clave`, `ключ`…). */
export function isGenericName(name: string): boolean {
  const segments = nameSegments(name);
  return segments.length === 1 && GENERIC_SEGMENTS.has(segments[0]!);
}

/** What a name says about its value. */
export interface NameInfo {
  /** The name marks its value as a secret. */
  readonly secret: boolean;
  /** The name refers to a secret (a file, a name, a length…) rather than holding it. */
  readonly reference: boolean;
}

function segmentIsSecret(segment: string): boolean {
  return SECRET_SEGMENTS.has(segment) || SECRET_SUBSTRINGS.some((s) => segment.includes(s));
}

/** Classifies a variable, flag or key name (see the module comment). */
export function classifyName(name: string): NameInfo {
  const segments = nameSegments(name);
  if (NOT_SECRET_NAMES.has(segments.join(" "))) return { secret: false, reference: false };
  // Public by its own name (`NEXT_PUBLIC_…`, `STRIPE_PUBLISHABLE_KEY`), a host name
  // (`auth.data.svc.cluster.local`), or a reference to an existing secret (`existingSecret`).
  // (A name that also says secret, password, private or credential stays secret: `PUBLIC_SECRET`.)
  const saysPublic =
    segments.some((s) => s === "public" || s === "publishable") &&
    !segments.some((s) =>
      /^(?:secret|secrets|password|passwd|pwd|private|credentials?|privatekey|secretkey)$/.test(s),
    );
  if (saysPublic || HOST_NAME.test(name)) return { secret: false, reference: false };
  if (segments[0] === "existing" && segments.length > 1) return { secret: true, reference: true };
  // A session's id is the session's bearer credential (`SESSION_ID`, `sessionId`, `connect.sid`):
  // not an id in the sense of the reference suffixes (attacker's pass on issue 17, finding L2).
  // Vault AppRole's `secret_id` is a login credential, not an id (short attack, L-D).
  if (segments.join(" ").endsWith("secret id")) return { secret: true, reference: false };
  if (SESSION_IDS.has(segments.join(" ")) || segments.some((s) => SESSION_ID_WORDS.has(s)))
    return { secret: true, reference: false };
  // Short words (`pw`, `pin`, `psk`) count only as words of a delimited name (`DB_PW`,
  // `ldap.bind.pw`) or alone: inside a camel-case run they are as likely base64 noise.
  const delimited = /[_.\-\s]/.test(name) || segments.length === 1;
  let secret = segments.some((s) => segmentIsSecret(s) && (delimited || !SHORT_SEGMENTS.has(s)));
  for (let i = 1; !secret && i < segments.length; i++) {
    secret = SECRET_PAIRS.has(`${segments[i - 1]} ${segments[i]}`);
  }
  const last = segments.at(-1);
  if (!secret && (last === "key" || last === "keys")) {
    const qualifier = segments.at(-2);
    secret = qualifier === undefined || !PUBLIC_KEY_QUALIFIERS.has(qualifier);
  }
  // `olcRootPW`, `bindPw`: a camel-case name ending in PW or PWD (LDAP's attributes) — the short word
  // as a name's whole last word, not inside a run.
  if (!secret && /^[A-Za-z]{2,32}(?:PW|Pw|PWD|Pwd)$/.test(name) && /[a-z]/.test(name)) secret = true;
  const reference =
    secret &&
    segments.length > 1 &&
    last !== undefined &&
    (REFERENCE_SUFFIXES.has(last) || (last.endsWith("s") && REFERENCE_SUFFIXES.has(last.slice(0, -1))));
  return { secret, reference };
}
