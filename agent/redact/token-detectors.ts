/**
 * Vendor token families recognised by their documented prefix and alphabet. Each pattern is
 * fenced by look-arounds so a token is only matched whole, and uses only bounded quantifiers with
 * a literal prefix, so matching is linear (no ReDoS) and gated by its keywords (see detector.ts).
 */
import type { Detector } from "./detector.js";

/** Token families, most specific prefix first (Anthropic's `sk-ant-` before OpenAI's `sk-`). */
export const TOKEN_DETECTORS: readonly Detector[] = [
  {
    id: "aws-access-key-id",
    description: "An AWS access key id (AKIA… long-term, ASIA… temporary).",
    pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/dg,
    keywords: ["AKIA", "ASIA"],
    samples: ["AKIA{b32:16}", "ASIA{b32:16}"],
  },
  {
    id: "github-token",
    description:
      "A GitHub token: classic ghp_, OAuth gho_, app user-to-server ghu_ and server-to-server ghs_, refresh ghr_, fine-grained github_pat_.",
    pattern:
      /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/dg,
    keywords: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
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
    id: "gitlab-token",
    description:
      "A GitLab token: personal/project/group glpat-, deploy gldt-, runner glrt-, trigger glptt-, CI job glcbt-, and the other gl…- families; runner registration GR1348941….",
    pattern:
      /(?<![A-Za-z0-9_-])(?:(?:glpat|gldt|glrt|glptt|glcbt|glimt|glagent|gloas|glffct|glsoat|glft)-[A-Za-z0-9_-]{20,300}(?:\.[A-Za-z0-9_-]{2,40}){0,2}|GR1348941[A-Za-z0-9_-]{20,64})(?![A-Za-z0-9_-])/dg,
    keywords: [
      "glpat-",
      "gldt-",
      "glrt-",
      "glptt-",
      "glcbt-",
      "glimt-",
      "glagent-",
      "gloas-",
      "glffct-",
      "glsoat-",
      "glft-",
      "GR1348941",
    ],
    samples: ["glpat-{b64url:20}", "glrt-{alnum:20}", "gldt-{b64url:20}", "GR1348941{b64url:20}"],
  },
  {
    id: "slack-token",
    description: "A Slack token: xoxb- bot, xoxp- user, xoxa-/xoxr-/xoxs-/xoxo-/xoxe-, and xapp- app-level.",
    pattern:
      /(?<![A-Za-z0-9])(?:xox[abposre]-[A-Za-z0-9-]{10,250}|xapp-[0-9]{1,2}-[A-Za-z0-9-]{20,250})(?![A-Za-z0-9-])/dg,
    keywords: ["xox", "xapp-"],
    samples: [
      "xoxb-{digit:12}-{digit:13}-{alnum:24}",
      "xoxp-{digit:12}-{digit:12}-{digit:13}-{hex:32}",
      "xapp-1-A{b32:10}-{digit:13}-{hex:64}",
    ],
  },
  {
    id: "slack-webhook",
    description:
      "A Slack incoming-webhook or workflow URL; scheme and host are kept, the secret path masked.",
    pattern:
      /https?:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/(?<secret>[A-Za-z0-9_/-]{20,300})/dg,
    keywords: ["hooks.slack.com"],
    secretGroups: ["secret"],
    samples: ["https://hooks.slack.com/services/T{b32:8}/B{b32:10}/{alnum:24}"],
  },
  {
    id: "stripe-key",
    description:
      "A Stripe secret or restricted key (sk_live_, rk_live_, their _test_ forms) or a webhook signing secret (whsec_).",
    pattern:
      /(?<![A-Za-z0-9])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9+/]{24,100})(?![A-Za-z0-9])/dg,
    keywords: ["sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"],
    samples: ["sk_live_{alnum:24}", "rk_live_{alnum:99}", "sk_test_{alnum:24}", "whsec_{alnum:32}"],
  },
  {
    id: "google-api-key",
    description: "A Google API key (AIza…).",
    pattern: /(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/dg,
    keywords: ["AIza"],
    samples: ["AIza{b64url:35}"],
  },
  {
    id: "google-oauth-secret",
    description: "A Google OAuth client secret (GOCSPX-…).",
    pattern: /(?<![A-Za-z0-9_-])GOCSPX-[A-Za-z0-9_-]{28}(?![A-Za-z0-9_-])/dg,
    keywords: ["GOCSPX-"],
    samples: ["GOCSPX-{b64url:28}"],
  },
  {
    id: "npm-token",
    description: "An npm access token (npm_…).",
    pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/dg,
    keywords: ["npm_"],
    samples: ["npm_{alnum:36}"],
  },
  {
    id: "pypi-token",
    description: "A PyPI or TestPyPI API token (pypi-Ag… macaroon).",
    pattern: /(?<![A-Za-z0-9_-])pypi-Ag[A-Za-z0-9_-]{50,1000}(?![A-Za-z0-9_-])/dg,
    keywords: ["pypi-Ag"],
    samples: ["pypi-AgEIcHlwaS5vcmc{b64url:70}", "pypi-AgENdGVzdC5weXBpLm9yZw{b64url:120}"],
  },
  {
    id: "anthropic-key",
    description: "An Anthropic API key (sk-ant-…).",
    pattern: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/dg,
    keywords: ["sk-ant-"],
    samples: ["sk-ant-api03-{b64url:93}AA", "sk-ant-admin01-{b64url:40}"],
  },
  {
    id: "openai-key",
    description: "An OpenAI API key (sk-…, sk-proj-…, sk-svcacct-…: mixed case with digits).",
    pattern:
      /(?<![A-Za-z0-9_-])sk-(?!ant-)(?=[A-Za-z_-]{0,250}[0-9])(?=[a-z0-9_-]{0,250}[A-Z])[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/dg,
    keywords: ["sk-"],
    samples: ["sk-{upper:4}{digit:4}{alnum:40}", "sk-proj-{digit:2}{upper:2}{b64url:120}"],
  },
  {
    id: "huggingface-token",
    description: "A Hugging Face access token (hf_…) or organisation token (api_org_…).",
    pattern: /(?<![A-Za-z0-9_])(?:hf_|api_org_)[A-Za-z0-9]{30,40}(?![A-Za-z0-9_])/dg,
    keywords: ["hf_", "api_org_"],
    // A lower-case run after `hf_` is an identifier, not a token: real tokens mix cases.
    validate: (secret) => /[A-Z]/.test(secret) && /[a-z]/.test(secret.slice(3)),
    samples: ["hf_{upper:2}{lower:2}{alnum:30}"],
  },
  {
    id: "sendgrid-key",
    description: "A SendGrid API key (SG.<id>.<secret>).",
    pattern: /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/dg,
    keywords: ["SG."],
    samples: ["SG.{b64url:22}.{b64url:43}"],
  },
  {
    id: "twilio-api-key",
    description: "A Twilio API key SID (SK + 32 hex), half of a Twilio credential pair.",
    pattern: /(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])/dg,
    keywords: ["SK"],
    samples: ["SK{hex:32}"],
  },
  {
    id: "digitalocean-token",
    description: "A DigitalOcean token: personal dop_v1_, OAuth doo_v1_, refresh dor_v1_.",
    pattern: /(?<![A-Za-z0-9_])do[opr]_v1_[a-f0-9]{64}(?![A-Za-z0-9])/dg,
    keywords: ["dop_v1_", "doo_v1_", "dor_v1_"],
    samples: ["dop_v1_{hex:64}", "dor_v1_{hex:64}"],
  },
  {
    id: "shopify-token",
    description:
      "A Shopify token: admin shpat_, custom-app shpca_, private-app shppa_, shared secret shpss_.",
    pattern: /(?<![A-Za-z0-9_])shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?![A-Za-z0-9])/dg,
    keywords: ["shpat_", "shpca_", "shppa_", "shpss_"],
    samples: ["shpat_{hex:32}", "shpss_{hex:32}"],
  },
  {
    id: "age-secret-key",
    description: "An age encryption secret key (AGE-SECRET-KEY-1 + 58 bech32 characters).",
    pattern: /(?<![A-Za-z0-9-])AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}(?![A-Za-z0-9])/dg,
    keywords: ["AGE-SECRET-KEY-1"],
    samples: ["AGE-SECRET-KEY-1{bech32:58}"],
  },
  {
    id: "jwt",
    description: "A JSON Web Token (three base64url parts, header and payload JSON objects).",
    pattern:
      /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.eyJ[A-Za-z0-9_-]{5,16384}\.[A-Za-z0-9_-]{0,4096}(?![A-Za-z0-9_-])/dg,
    keywords: ["eyJ"],
    samples: ["eyJ{b64url:33}.eyJ{b64url:80}.{b64url:43}", "eyJ{b64url:20}.eyJ{b64url:20}."],
  },
];
