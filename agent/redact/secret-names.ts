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
]);

/** Substrings that mark a secret even inside a run-together segment (`DBPASSWORD`, `MYAPIKEY`). */
const SECRET_SUBSTRINGS = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "credential",
  "apikey",
  "privatekey",
];

/** Adjacent segment pairs that mark a secret (`API_KEY`, `private-key`, `ConnectionString`). */
const SECRET_PAIRS = new Set([
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
]);

/** Names whose words say secret but whose value is public by definition. */
const NOT_SECRET_NAMES = new Set([
  "x amz credential",
  "x goog credential",
  "x amz algorithm",
  "x goog algorithm",
]);

/** Longest name prefix inspected: names are short, and this bounds the work on hostile input. */
const MAX_NAME_LENGTH = 256;

/** The lower-case segments of a name. */
export function nameSegments(name: string): string[] {
  return name
    .slice(0, MAX_NAME_LENGTH)
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]{1,64})([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]{1,256}/)
    .filter((s) => s !== "");
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
  let secret = segments.some(segmentIsSecret);
  for (let i = 1; !secret && i < segments.length; i++) {
    secret = SECRET_PAIRS.has(`${segments[i - 1]} ${segments[i]}`);
  }
  const last = segments.at(-1);
  if (!secret && (last === "key" || last === "keys")) {
    const qualifier = segments.at(-2);
    secret = qualifier === undefined || !PUBLIC_KEY_QUALIFIERS.has(qualifier);
  }
  const reference = secret && segments.length > 1 && last !== undefined && REFERENCE_SUFFIXES.has(last);
  return { secret, reference };
}
