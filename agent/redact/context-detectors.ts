/**
 * Secrets recognised by what surrounds them rather than by a vendor prefix: PEM blocks, URL
 * userinfo, Authorization headers, signed-URL query parameters, Azure connection strings. Each
 * keeps the public structure around the secret (armour lines, scheme/host/path, the scheme word,
 * the parameter name) so the line still parses and still helps.
 */
import type { Detector } from "./detector.js";
import { randomByCharacters } from "./entropy.js";
import { plainValueKind } from "./plain-values.js";

// Written in pieces so that this file itself does not look like a PEM block to scanners.
const DASHES = "-----";
const PEM_LABEL = "(?:[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)";

/** Query parameters whose value is a credential or a signature (case-insensitive). */
const SECRET_QUERY_PARAMS = [
  "api[_-]?key",
  "access[_-]?key",
  "secret[_-]?key",
  "private[_-]?key",
  "token",
  "access[_-]?token",
  "refresh[_-]?token",
  "id[_-]?token",
  "auth[_-]?token",
  "session[_-]?token",
  "x-amz-security-token",
  "x-amz-signature",
  "x-goog-signature",
  "sig",
  "signature",
  "client[_-]?secret",
  "secret",
  "password",
  "passwd",
  "pwd",
  "auth",
];

/** A password in a URL that only stands for one: `PASSWORD`, `<password>`, `${DB_PASS}`, `****`, `%s`. */
function urlPlaceholder(secret: string): boolean {
  if (
    /^(?:[A-Z][A-Z_]{1,31}|<[^<>]{1,40}>|\{\{?[^{}]{1,60}\}\}?|\$\{?[A-Za-z_][A-Za-z0-9_]{0,63}\}?|\$\([A-Za-z_][A-Za-z0-9_]{0,63}\)|\$\{[A-Za-z_][A-Za-z0-9_]{0,63}:[^{}]{0,128}\}|\*{1,32}|x{3,32}|%s|%\([a-z_]{1,32}\)s|\.{3})$/.test(
      secret,
    )
  )
    return /^[A-Z_]{2,32}$/.test(secret) ? /PASS|PWD|SECRET|TOKEN|KEY|CRED/.test(secret) : true;
  return plainValueKind(secret) === "template" || plainValueKind(secret) === "placeholder";
}

/** A URL's user that is a key rather than a name: 16+ characters of hex, or random-looking. */
function keyLikeUser(user: string): boolean {
  if (user.length < 16 || !/^[A-Za-z0-9_-]{16,256}$/.test(user)) return false;
  return (
    (/^[0-9a-f]{16,}$/i.test(user) && /[0-9]/.test(user) && /[a-f]/i.test(user)) || randomByCharacters(user)
  );
}

/** The detectors keyed to structure, applied after the token families. */
export const CONTEXT_DETECTORS: readonly Detector[] = [
  {
    id: "pem-private-key",
    description:
      "A PEM (or PGP) private key block; the armour lines are kept, the body masked (to the end if unterminated).",
    pattern: new RegExp(
      `${DASHES}BEGIN ${PEM_LABEL}${DASHES}(?:(?<secret>[\\s\\S]{1,65536}?)${DASHES}END ${PEM_LABEL}${DASHES}|(?<secretTail>[\\s\\S]{1,65536}))`,
      "dg",
    ),
    keywords: ["PRIVATE KEY", "OpenVPN Static key"],
    multiline: true,
    secretGroups: ["secret", "secretTail"],
    samples: [
      `${DASHES}BEGIN PRIVATE KEY${DASHES}\n{b64:64}\n{b64:64}\n{b64:20}==\n${DASHES}END PRIVATE KEY${DASHES}`,
      `${DASHES}BEGIN RSA PRIVATE KEY${DASHES}\\n{b64:64}\\n{b64:32}\\n${DASHES}END RSA PRIVATE KEY${DASHES}`,
      `${DASHES}BEGIN OPENSSH PRIVATE KEY${DASHES}\n{b64:70}\n{b64:70}\n${DASHES}END OPENSSH PRIVATE KEY${DASHES}`,
    ],
  },
  {
    id: "url-credentials",
    description:
      "A password in a URL's userinfo (scheme://user:password@host); scheme, user, host and path are kept.",
    pattern:
      /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/(?<user>[^\s/?#@:'"<>]{0,256}):(?<secret>(?:[^\s/'"<>@]|\/(?=[^\s'"<>]{0,256}@)|@(?=[^\s/'"<>@]{0,256}@)){1,256})@/dg,
    keywords: ["://"],
    // A documentation placeholder (`USER:PASSWORD@`, `user:<password>@`, `${DB_PASSWORD}`) is no
    // secret; a key used as the user (a legacy Sentry DSN's public key, `https://<key>:<secret>@`)
    // is masked with the password.
    replace: (match, mask) => {
      const user = match.groups?.user ?? "";
      const secret = match.groups?.secret ?? "";
      if (urlPlaceholder(secret)) return undefined;
      const whole = match[0];
      const userAt = whole.length - secret.length - 2 - user.length;
      const shownUser = keyLikeUser(user) ? mask(user) : user;
      return `${whole.slice(0, userAt)}${shownUser}:${mask(secret)}@`;
    },
    samples: [
      "postgres://app:{alnum:16}@db:5432/app",
      "redis://:{hex:24}@cache.internal:6379/0",
      "https://user:{b64url:20}@example.com/path",
      "amqp://guest:{alnum:12}@rabbit:5672/vhost",
    ],
  },
  {
    id: "url-userinfo",
    description:
      "A key used as a URL's user with no password (a Sentry DSN, https://<token>@host): 16+ token characters; scheme, host and path are kept.",
    pattern: /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/(?<secret>[A-Za-z0-9_-]{16,256})@/dg,
    keywords: ["://"],
    secretGroups: ["secret"],
    samples: [
      "https://{hex:32}@o{digit:6}.ingest.example.io/{digit:4}",
      "https://{alnum:40}@git.example.com/org/repo.git",
    ],
  },
  {
    id: "authorization-credentials",
    description:
      'Credentials after a Bearer or Basic scheme; the scheme word is kept. The token must hold a digit, +, / or =, or mixed case, so English ("Basic authentication") is left alone.',
    pattern:
      /(?<![A-Za-z0-9])(?:[Bb]earer|[Bb]asic|BEARER|BASIC|SSWS|Splunk)[ \t]{1,4}(?=[A-Za-z0-9._~+/=-]{0,4096}[0-9+/=]|[A-Za-z0-9._~+/=-][a-z._~-]{0,4096}[A-Z])(?<secret>[A-Za-z0-9._~+/-]{8,4096}={0,2})(?![A-Za-z0-9._~+/=-])/dg,
    keywords: ["bearer", "basic", "SSWS", "Splunk"],
    keywordsIgnoreCase: true,
    secretGroups: ["secret"],
    samples: ["Bearer {b64url:40}", "Basic {b64:28}==", "Basic dXNlcjpwYXNz"],
  },
  {
    id: "url-query-secret",
    description:
      "The value of a credential or signature query parameter (api_key, token, access_token, sig, X-Amz-Signature, X-Goog-Signature, client_secret, …); the parameter name is kept.",
    pattern: new RegExp(
      // The separator is matched, not looked behind for: V8 then skips to the next `?`, `&` or
      // `;` instead of trying the lookbehind at every character.
      `[?&;](?:${SECRET_QUERY_PARAMS.join("|")})=(?<secret>[^&#;\\s"'<>\`]{1,4096})`,
      "dgi",
    ),
    keywords: ["key=", "token=", "sig=", "signature=", "secret=", "password=", "passwd=", "pwd=", "auth="],
    keywordsIgnoreCase: true,
    secretGroups: ["secret"],
    // `?token=true` and `?sig=1` are switches, not credentials.
    validate: (secret) => plainValueKind(secret) === undefined,
    extendWhile: /[^&#;\s"'<>`]/,
    // In a connection string (`;Password=Abc def;Database=app`, `;PWD={a;b};`) a value runs to its
    // `;` or its closing brace (attacker's pass on issue 17, finding L7).
    extendSpan: (text, start, end) => {
      // (`;` looked for in the 1 KB before: a search back through a long line from every match was
      // quadratic.)
      if (text[start - 1] !== "=" || !text.slice(Math.max(0, start - 1024), start).includes(";")) return end;
      if (text[start] === "{") {
        const close = text.indexOf("}", start);
        return close > 0 && close - start < 1024 && !/[\r\n]/.test(text.slice(start, close))
          ? close + 1
          : end;
      }
      const rest = /^[^;=\r\n]{1,256}(?=;[ \t]{0,4}[A-Za-z][\w ]{0,40}=)/.exec(text.slice(end, end + 320));
      return rest ? end + rest[0].length : end;
    },
    samples: [
      "https://bucket.s3.amazonaws.com/o.tar?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={hex:64}&X-Amz-Expires=300",
      "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={hex:64}",
      "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig={b64:43}%3D&se=2030-01-01",
      "GET /v1/data?api_key={alnum:32}&page=2",
      "/callback?access_token={b64url:40}&state=xyz",
    ],
  },
  {
    id: "azure-storage-key",
    description:
      "The key or SAS of an Azure connection string (AccountKey=, SharedAccessKey=, SharedAccessSignature=); account name and endpoints are kept.",
    pattern:
      /(?<![A-Za-z0-9])(?:AccountKey|SharedAccessKey|SharedAccessSignature)=(?<secret>[^;\s"'<>]{8,2048})/dg,
    keywords: ["AccountKey=", "SharedAccessKey=", "SharedAccessSignature="],
    secretGroups: ["secret"],
    samples: [
      "DefaultEndpointsProtocol=https;AccountName=acct{digit:4};AccountKey={b64:86}==;EndpointSuffix=core.windows.net",
      "Endpoint=sb://ns{digit:3}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={b64:43}=",
    ],
  },
];
