/**
 * Values that are plainly not secrets even under a secret-sounding name: `PASSWORD_MIN_LENGTH=12`,
 * `SESSION_TIMEOUT=30m`, `AUTH_ENABLED=true`, `TOKEN_URL=https://idp/token`. Each rule is narrow on
 * purpose: a value that merely *looks* harmless (a word, a short string) stays masked.
 */
import { randomByCharacters } from "./entropy.js";
import { classifyName } from "./secret-names.js";

/** Last words of a field name used as a value (`password`, `db_password`, `api-key`, `secretKey`). */
const NAME_VALUE_ENDS =
  /(?:^|[_.-]|[a-z])(?:password|passwd|secret|token|key|apikey|credentials?|passphrase|Password|Secret|Token|Key)$/;

/** A value that is itself a secret's name (`password`, `db_password`, `api-key`): at most three words. */
function isSecretWord(value: string): boolean {
  return (
    NAME_VALUE_ENDS.test(value) && value.split(/[_.-]|(?=[A-Z])/).length <= 3 && classifyName(value).secret
  );
}

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
/**
 * The name of an algorithm, not a key: `signature: RSA-SHA256`, `host key: ssh-ed25519`,
 * `cipher 'AES-256-GCM'`, `alg: HS256`, a TLS cipher suite.
 */
const ALGORITHM =
  /^(?:(?:RSA|DSA|ECDSA|EdDSA|HMAC|rsa|dsa|ecdsa|hmac)[-_]?(?:SHA|sha)[-_]?(?:1|2-?256|224|256|384|512)|(?:HS|RS|ES|PS)(?:256|384|512)|EdDSA|Ed25519|Ed448|ED25519|ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|(?:sk-)?ssh-ed25519@openssh\.com|rsa-sha2-(?:256|512)|(?:AES|aes)[-_]?(?:128|192|256)(?:[-_]?(?:GCM|CBC|CTR|gcm|cbc|ctr))?|(?:sha|SHA)-?(?:1|224|256|384|512)(?:With(?:RSA|ECDSA)Encryption)?|(?:chacha20|ChaCha20|CHACHA20)[-_](?:poly1305|Poly1305|POLY1305)|TLS_[A-Z0-9_]{4,60}|scram-sha-(?:1|256)|SCRAM-SHA-(?:1|256))$/;
/**
 * A PGP key id or fingerprint (git's `signingkey = 028DB1A15785F36C`): upper-case hex of 16 or 40.
 * Public only under a name that says signing key (named-values.ts): under `password` the same
 * shape may be a generated secret.
 */
export const KEY_ID = /^(?:0x)?(?=[0-9A-F]{0,39}[A-F])(?=[0-9A-F]{0,39}[0-9])(?:[0-9A-F]{16}|[0-9A-F]{40})$/;
/**
 * A command line run for a value (`credential_process = /usr/local/bin/aws-vault exec prod --json`):
 * an absolute program path and words or flags, none with a value of its own (a secret given as an
 * argument is the command-line rules' to find).
 */
const COMMAND =
  /^(?![^\r\n]{0,1024}(?:pass|pwd|secret|token|key|cred|auth))\/[\w.@+-]{1,64}(?:\/[\w.@+-]{1,64}){0,15}(?:[ \t]{1,4}(?:--?[a-z][\w-]{0,40}|[a-z][\w.:/-]{0,63})){1,16}$/;
/** The opening of a list or an object (`AUTH_PASSWORD_VALIDATORS = [`): the values are on the next lines. */
const OPENING = /^[[{(]$/;
/** A YAML block scalar indicator (`key: |`): the value is on the next lines. */
const YAML_BLOCK = /^[|>][+-]?[0-9]?$/;
/** An already-redacted or elided placeholder: `****`, `<redacted>`, `[FILTERED]`, `(sensitive value)`, `xxxxxx`. */
const PLACEHOLDER =
  /^(?:\*{1,64}(?:redacted|masked|hidden|secret)?\*{0,64}|[<[({]{1,2}[ \t]{0,2}(?:redacted|filtered|masked|hidden|sensitive|sensitive value|secret|omitted|removed|not shown|encrypted|protected|none|empty|password|secret|token|api[_ -]?key|your[_ -][a-z _-]{1,40}|[a-z]{1,20}[_-](?:password|secret|token|key))[ \t]{0,2}[>\])}]{1,2}|redacted|masked|filtered|x{3,64}|X{3,64}|\.{3}|…|changeme_?please|-{2,64}|<[a-z][a-z _-]{1,40}[a-z]>)$/i;
/** A template or a reference to a secret kept elsewhere, resolved at deploy or run time. */
const TEMPLATE =
  /^(?:\$\{\{[^\r\n]{1,256}\}\}|\{\{[^\r\n]{1,256}\}\}|\$\{[^\r\n{}]{1,256}\}|\$\([^()\r\n]{1,256}\)|`[^`\r\n]{1,256}`|#\{[^\r\n{}]{1,256}\}#?|\$?__(?:file|env|vault)\{[^\r\n{}]{1,256}\}|<%=?[^\r\n]{1,256}%>|%\([A-Za-z_][A-Za-z0-9_]{0,63}\)[sd]|%[sdv]|\{\{?[A-Za-z_][A-Za-z0-9_.]{0,63}\}\}?|\$[A-Z_][A-Z0-9_]{0,127}|ENC\[[A-Za-z0-9_-]{1,32},[^\]\r\n]{1,8192}\]|\$ANSIBLE_VAULT;[0-9.]{1,8};[A-Z0-9]{1,32}(?:;[^\s]{1,64})?|(?:vault|ssm|secretsmanager|awssm|gcpsm|azkv|sops|ref\+[a-z0-9]{1,16}|op|sm|k8s|file|env|keyring|bws)(?::|:\/\/)[A-Za-z0-9_./#:@+-]{1,512}|arn:aws[a-z-]{0,16}:(?:secretsmanager|ssm|kms):[A-Za-z0-9_./:+=@-]{1,512})$/;
/**
 * Text that says where a value is, not the value: `kubectl describe`'s `<set to the key 'x' in
 * secret 'y'>`, a YAML tag opening a block (`!vault |`), an auth scheme before a placeholder
 * (`Bearer <token>`), Terraform's progress (`Creating...`, `Refreshing state... [id=…]`).
 */
const DESCRIBED =
  /^(?:<set to the key '[^'\r\n]{1,253}' (?:in|of) (?:secret|config map) '[^'\r\n]{1,253}'>(?:[ \t]{1,8}Optional: (?:true|false))?|![A-Za-z0-9!/._-]{1,64}[ \t]{1,4}[|>][+-]?[0-9]?|(?:Bearer|Basic|Token|Digest)[ \t]{1,4}(?:<[^<>\r\n]{1,40}>|\$\{?[A-Za-z_][A-Za-z0-9_]{0,63}\}?|\{\{[^{}\r\n]{1,80}\}\}|x{3,64}|\*{3,64}|\.{3}|…)|(?:Creating|Destroying|Modifying|Refreshing state|Reading|Still (?:creating|destroying|modifying|reading)|Creation complete|Destruction complete|Modifications complete|Read complete)\b[^\r\n]{0,256})$/;
/** An id made of words, numbers and UUIDs joined by `:` (`tenant:<uuid>:scope:orders.read`, a cache key). */
const COMPOSITE_ID =
  /^[a-z][a-z0-9_.-]{0,31}(?::(?:[a-z][a-z0-9_.-]{0,31}|[0-9]{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})){2,12}$/;
/**
 * A value that is a digest by its prefix (Vault's audit log HMACs every secret: `hmac-sha256:…`),
 * a type (`password: Optional[str] = None`, `api_key: SecretStr`, `token: string;`), or the start of
 * an expression (`const token = await getToken();`, `let token = null;`).
 */
const DIGEST_VALUE = /^(?:hmac-)?(?:sha1|sha256|sha384|sha512|md5):[0-9a-fA-F]{16,128}$/;
const TYPE_ANNOTATION =
  /^(?:str|int|bool|bytes|float|string|String|number|boolean|any|Any|None|SecretStr|SecretBytes|Secret|Optional\[[A-Za-z_. [\],]{1,64}\]|Option<[A-Za-z_<>]{1,64}>|\[\]byte|char ?\*)(?:[ \t]{0,4}(?:=|\|)[^\r\n]{0,256})?;?$/;
/** A bound parameter of an SQL statement (`WHERE token = ?`, `$1`, `:token`, `@p1`). */
const SQL_PARAMETER = /^(?:\?|\$[0-9]{1,3}|:[A-Za-z_][A-Za-z0-9_]{0,63}|@[A-Za-z_][A-Za-z0-9_]{0,63})$/;
/** A parameter declared with a type and a default computed by a call (`session: Session = Depends(get_db)`). */
const TYPED_DEFAULT =
  /^[A-Z][A-Za-z0-9_.]{0,63}(?:\[[^\]\r\n]{0,64}\])?[ \t]{1,4}=[ \t]{1,4}[A-Za-z_][\w.]{0,63}\([^\r\n]{0,256}$/;
const EXPRESSION_START =
  /^(?:await|new|yield|typeof|function|lambda|async|not|return|null|undefined|None|nil|true|false)(?:[ \t;,)]|$)/;
/** A count of bytes, as `kubectl describe secret` shows each key of a Secret (`password: 31 bytes`). */
const BYTE_COUNT = /^[0-9]{1,12}[ \t]{1,4}bytes?$/;
/**
 * Code that computes or fetches a secret, not the secret: a call (`fetch_token(session_id)`,
 * `os.getenv("DB_PASSWORD")`), a property path of a settings object (`settings.SECRET_KEY`,
 * `process.env.API_TOKEN`, `self.token`), an index of an environment (`os.environ["X"]`).
 */
const CODE_REFERENCE =
  /^(?:(?:new[ \t]{1,4})?[A-Za-z_$][A-Za-z0-9_$]{0,63}(?:\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,8}[ \t]?\([^()\r\n]{0,256}\)[;,]?|(?:self|this|cls|ctx|context|req|request|settings|config|cfg|conf|options|opts|args|params|env|process\.env|os\.environ|ENV|import\.meta\.env|Rails\.application\.credentials|secrets)(?:\.[A-Za-z_$][A-Za-z0-9_$]{0,63}|\[[ \t]?["'][^"'\r\n]{1,128}["'][ \t]?\]){1,8}[;,]?)$/;
/**
 * A secret's own name used as a value (`secretKey: password`, `key: db-password`, `apiToken`), or
 * the name of a Kubernetes Secret (`secret: app-secrets`, `existingSecret: db-creds`): a reference.
 */
const NAME_AS_VALUE = /^(?:[a-z][a-z]{1,31}(?:[_.-][a-z]{1,31}){0,2}|[a-z]{2,31}(?:[A-Z][a-z]{1,31}){1,2})$/;
/** A Kubernetes object name ending in a word that names secrets (`app-secrets`, `db-creds`, `web-tls`). */
const SECRET_OBJECT_NAME =
  /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\/[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$|^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\/)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?-(?:secrets?|creds|credentials|tls|certs?|keys|tokens|auth)$/;

/** Tried in order; the first that matches names why the value is shown. */
export const PLAIN_RULES: readonly (readonly [string, RegExp])[] = [
  ["boolean", BOOLEAN_LIKE],
  ["number", SHORT_NUMBER],
  ["duration", DURATION],
  ["path", PATH],
  ["url", URL_WITHOUT_USERINFO],
  ["variable-reference", VARIABLE_REFERENCE],
  ["placeholder", PLACEHOLDER],
  ["template", TEMPLATE],
  ["byte-count", BYTE_COUNT],
  ["digest", DIGEST_VALUE],
  ["sql-parameter", SQL_PARAMETER],
  ["type", TYPE_ANNOTATION],
  ["typed-default", TYPED_DEFAULT],
  ["code", EXPRESSION_START],
  ["described", DESCRIBED],
  ["composite-id", COMPOSITE_ID],
  ["code", CODE_REFERENCE],
  ["pem-armour", PEM_ARMOUR],
  ["yaml-block", YAML_BLOCK],
  ["algorithm", ALGORITHM],
  ["opening", OPENING],
  ["command", COMMAND],
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

/**
 * A token's documented shape filled with one repeated character (`sk_live_xxxxxxxxxxxxxxxx`,
 * `ghp_000000000000000000000000000000000000`, `AKIA****************`): an example, not a secret.
 */
export function placeholderToken(secret: string): boolean {
  const tail = /[A-Za-z0-9*.]{8,}$/.exec(
    secret.replace(/^[A-Za-z0-9]{1,12}[_-](?:(?:live|test|prod)[_-])?/, ""),
  )?.[0];
  return tail !== undefined && new Set(tail).size === 1;
}

/** Why `value` is plainly not a secret (`"empty"`, `"number"`, `"path"`…), or undefined if it may be one. */
export function plainValueKind(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed === "") return "empty";
  // `'********'` (Django's diffsettings), `"<must-be-changed>"`: a quoted value is judged inside.
  if (trimmed.length > 2 && /^(["'`]).*\1$/s.test(trimmed) && !trimmed.slice(1, -1).includes(trimmed[0]!)) {
    const inner = plainValueKind(trimmed.slice(1, -1));
    if (inner !== undefined && inner !== "empty") return inner;
  }
  if (trimmed.length > 8192) return undefined;
  for (const [kind, pattern] of PLAIN_RULES) {
    if (!pattern.test(trimmed)) continue;
    return kind === "path" && randomPath(trimmed) ? undefined : kind;
  }
  if (NAME_AS_VALUE.test(trimmed) && isSecretWord(trimmed)) return "name";
  if (placeholderToken(trimmed)) return "placeholder";
  if (SECRET_OBJECT_NAME.test(trimmed)) return "name";
  return undefined;
}
