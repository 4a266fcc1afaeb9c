/**
 * Shape detectors: values that are secrets whatever name they sit under, recognised by their
 * format. One table of data; the engine (mask-text.ts) applies each entry in order.
 *
 * Every pattern uses only bounded quantifiers, and adjacent repetitions are separated by a literal
 * outside their character classes, so no input can make matching backtrack super-linearly (no
 * ReDoS): the agent masks text from a process that may be under attack.
 */

/** One detector. */
export interface Detector {
  /** Shown in the marker: `⟦masked:<id>:…⟧`. Lower-case, digits and dashes. */
  readonly id: string;
  readonly description: string;
  /**
   * A global pattern with the `d` flag (match indices). When one of `secretGroups` matched, only
   * that group is masked and the rest of the match (a `Bearer ` prefix, a URL's scheme, user and
   * host, a PEM block's armour lines) is kept; otherwise the whole match is masked.
   */
  readonly pattern: RegExp;
  /** Named groups holding the secret, in order of preference. */
  readonly secretGroups?: readonly string[];
  /** A further check of a candidate (a checksum, a decodable header); false keeps the text. */
  readonly validate?: (secret: string) => boolean;
  /**
   * Templates of matching samples for the tests, expanded at test time with random characters
   * (`{alnum:36}` is 36 of [A-Za-z0-9]; sets: upper, lower, digit, alnum, hex, b32, b64, b64url),
   * so the repository never holds a literal token that secret scanners flag.
   */
  readonly samples: readonly string[];
}

// Written in pieces so that this file itself does not look like a PEM block to scanners.
const DASHES = "-----";
const PEM_LABEL = "[A-Z0-9 ]{0,40}PRIVATE KEY";

/** The default table, applied in this order (a more specific format before a more general one). */
export const DETECTORS: readonly Detector[] = [
  {
    id: "pem-private-key",
    description:
      "A PEM private key block; the armour lines are kept, the body masked (to the end if unterminated).",
    pattern: new RegExp(
      `${DASHES}BEGIN ${PEM_LABEL}${DASHES}(?:(?<secret>[\\s\\S]{1,65536}?)${DASHES}END ${PEM_LABEL}${DASHES}|(?<secretTail>[\\s\\S]{1,65536}))`,
      "dg",
    ),
    secretGroups: ["secret", "secretTail"],
    samples: [
      `${DASHES}BEGIN PRIVATE KEY${DASHES}\n{b64:64}\n{b64:64}\n{b64:20}==\n${DASHES}END PRIVATE KEY${DASHES}`,
      `${DASHES}BEGIN RSA PRIVATE KEY${DASHES}\\n{b64:64}\\n{b64:32}\\n${DASHES}END RSA PRIVATE KEY${DASHES}`,
    ],
  },
  {
    id: "aws-access-key-id",
    description: "An AWS access key id (AKIA… long-term, ASIA… temporary).",
    pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/dg,
    samples: ["AKIA{b32:16}", "ASIA{b32:16}"],
  },
  {
    id: "github-token",
    description: "A GitHub token: ghp_/gho_/ghu_/ghs_/ghr_ or a fine-grained github_pat_.",
    pattern:
      /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/dg,
    samples: [
      "ghp_{alnum:36}",
      "gho_{alnum:36}",
      "ghu_{alnum:36}",
      "ghs_{alnum:36}",
      "ghr_{alnum:36}",
      "github_pat_{alnum:22}_{alnum:59}",
    ],
  },
  {
    id: "slack-token",
    description: "A Slack token: xoxa-, xoxb-, xoxp-, xoxr-, xoxs-.",
    pattern: /(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])/dg,
    samples: ["xoxb-{digit:12}-{digit:13}-{alnum:24}", "xoxp-{digit:12}-{digit:12}-{digit:13}-{hex:32}"],
  },
  {
    id: "stripe-key",
    description: "A Stripe secret or restricted key (sk_live_, rk_live_, and their _test_ forms).",
    pattern: /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}(?![A-Za-z0-9])/dg,
    samples: ["sk_live_{alnum:24}", "rk_live_{alnum:99}", "sk_test_{alnum:24}"],
  },
  {
    id: "google-api-key",
    description: "A Google API key (AIza…).",
    pattern: /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/dg,
    samples: ["AIza{b64url:35}"],
  },
  {
    id: "npm-token",
    description: "An npm access token (npm_…).",
    pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/dg,
    samples: ["npm_{alnum:36}"],
  },
  {
    id: "jwt",
    description: "A JSON Web Token (three base64url parts, header and payload JSON objects).",
    pattern:
      /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.eyJ[A-Za-z0-9_-]{5,16384}\.[A-Za-z0-9_-]{0,4096}(?![A-Za-z0-9_-])/dg,
    samples: ["eyJ{b64url:33}.eyJ{b64url:80}.{b64url:43}", "eyJ{b64url:20}.eyJ{b64url:20}."],
  },
  {
    id: "anthropic-key",
    description: "An Anthropic API key (sk-ant-…).",
    pattern: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/dg,
    samples: ["sk-ant-api03-{b64url:93}AA", "sk-ant-admin01-{b64url:40}"],
  },
  {
    id: "openai-key",
    description: "An OpenAI API key (sk-… or sk-proj-…, mixed case with digits).",
    pattern:
      /(?<![A-Za-z0-9_-])sk-(?!ant-)(?=[A-Za-z_-]{0,250}[0-9])(?=[a-z0-9_-]{0,250}[A-Z])[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/dg,
    samples: ["sk-{upper:4}{digit:4}{alnum:40}", "sk-proj-{digit:2}{upper:2}{b64url:120}"],
  },
  {
    id: "url-credentials",
    description:
      "A password in a URL's userinfo (scheme://user:password@host); scheme, user, host and path are kept.",
    pattern:
      /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}:\/\/[^\s/?#@:'"<>]{0,256}:(?<secret>[^\s/?#'"<>]{1,256})@/dg,
    secretGroups: ["secret"],
    samples: [
      "postgres://app:{alnum:16}@db:5432/app",
      "redis://:{hex:24}@cache.internal:6379/0",
      "https://user:{b64url:20}@example.com/path",
    ],
  },
  {
    id: "authorization-credentials",
    description:
      'Credentials after a Bearer or Basic scheme; the scheme word is kept. The token must hold a digit, +, / or =, or mixed case, so English ("Basic authentication") is left alone.',
    pattern:
      /(?<![A-Za-z0-9])(?:[Bb]earer|[Bb]asic|BEARER|BASIC)[ \t]{1,4}(?=[A-Za-z0-9._~+/=-]{0,4096}[0-9+/=]|[A-Za-z0-9._~+/=-][a-z._~-]{0,4096}[A-Z])(?<secret>[A-Za-z0-9._~+/-]{8,4096}={0,2})(?![A-Za-z0-9._~+/=-])/dg,
    secretGroups: ["secret"],
    samples: ["Bearer {b64url:40}", "Basic {b64:28}==", "Basic dXNlcjpwYXNz"],
  },
];
