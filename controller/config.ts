/**
 * The controller's configuration: CLI options merged over `KEYHOLE_*` environment variables, parsed
 * once by one zod schema and frozen. Nothing else in the controller reads `process.env`.
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_TLS_RELOAD_SECONDS } from "../common/tls-server.js";
import { natsUrlProblem } from "../protocol/nats.js";
import { ConfigError } from "./errors.js";
import { type AgentNetworkEntry, parseAgentNetworks } from "./fleet/agent-networks.js";
import { environmentNameSchema } from "./policy/schema.js";

/** What the `keyhole controller` command passes in (strings as typed, or already numbers). */
export interface ControllerOptions {
  dataDir?: string;
  /** Policy YAML file; unset means the embedded default policy. */
  policy?: string;
  /** Inventory YAML file; unset means `<dataDir>/inventory.yaml` if it exists, else no agents. */
  inventory?: string;
  /** `ENV=FILE` pairs: a PKCS#8 Ed25519 key per environment. */
  signingKey?: string[];
  /** `HOST:PORT`; port 0 picks a free port. */
  listen?: string;
  /** `sqlite:PATH` or a file path; unset means `<dataDir>/keyhole.db`. */
  database?: string;
  /** A file holding the `--database` URL (a PostgreSQL URL with its password stays out of argv and env). */
  databaseFile?: string;
  /** The controller id, sent as the envelope's `iss`. */
  id?: string;
  sweepIntervalSeconds?: string | number;
  dispatchTimeoutSeconds?: string | number;
  /** Sign an audit checkpoint after this many new records (docs/audit.md). */
  auditCheckpointRecords?: string | number;
  /** …or this long after the last one when anything was appended since. */
  auditCheckpointSeconds?: string | number;
  /** PKCS#8 Ed25519 key that signs audit checkpoints; unset means `<dataDir>/audit-key.pem`. */
  auditKey?: string;
  logLevel?: string;
  /** S3 bucket for artifacts; unset means the local folder `<dataDir>/artifacts`. */
  s3Bucket?: string;
  /** Key prefix inside the bucket, e.g. `keyhole/`. */
  s3Prefix?: string;
  /** Endpoint of an S3-compatible store (MinIO, Ceph, …); unset means AWS. */
  s3Endpoint?: string;
  /** Path-style addressing (`host/bucket/key`), which most S3-compatible stores need. */
  s3ForcePathStyle?: string | boolean;
  /** The region; unset means the AWS chain's (AWS_REGION, profile), else us-east-1. */
  s3Region?: string;
  /** Server-side encryption passed through: `AES256`, `aws:kms` or `aws:kms:dsse`. */
  s3Sse?: string;
  s3SseKmsKeyId?: string;
  /** Part size of multipart uploads, in MiB (S3's minimum is 5). */
  s3PartSizeMib?: string | number;
  /** The largest artifact the controller stores (and presigns parts for), in MiB. */
  artifactMaxMib?: string | number;
  /** OIDC issuer whose ID tokens are accepted as bearer tokens (https; http only on loopback). */
  oidcIssuer?: string;
  /** The `aud` those ID tokens must carry (the client id registered at the issuer). */
  oidcAudience?: string;
  /** The ID token claim that lists the caller's groups; default `groups`. */
  oidcGroupsClaim?: string;
  /**
   * The URL people reach the controller's console at (e.g. `https://keyhole.example.com`): console
   * links, the OIDC login's redirect URI, and Secure cookies when it is https.
   */
  publicUrl?: string;
  /** A Slack-compatible incoming webhook that announces pending requests and break-glass uses. */
  approvalWebhook?: string;
  /** A file holding the `--approval-webhook` URL (its secret stays out of argv and env). */
  approvalWebhookFile?: string;
  /** Requests one subject may create per minute; 0 turns the limit off. */
  rateLimitPerMinute?: string | number;
  /** Agents' inline answers held in memory at once, all requests together, in MiB. */
  inlineResultsMaxMib?: string | number;
  /** Hours after which an open break-glass review is reported as overdue. */
  reviewOverdueHours?: string | number;
  /** Alert trigger rules YAML (docs/fleet.md); unset means alerts trigger nothing. */
  triggerRules?: string;
  /** How often enrolled agents beat. */
  heartbeatSeconds?: string | number;
  /** An enrolled agent silent this long is offline (default three heartbeats). */
  offlineAfterSeconds?: string | number;
  /** `ENV=CIDR[,CIDR…]` (repeatable): where enrolled agents of ENV may be (SPEC §8). */
  agentNetworks?: string[];
  /** PEM certificate chain and key: with both, the controller's API serves HTTPS. */
  tlsCert?: string;
  tlsKey?: string;
  /** PEM CA bundle agents' certificates are verified against (SPEC §8); default: the system's roots. */
  agentCa?: string;
  /** PEM certificate and key the controller presents to agents (mutual TLS). */
  clientCert?: string;
  clientKey?: string;
  /** How often the TLS files are checked for a rotation. */
  tlsReloadSeconds?: string | number;
  /** `nats://HOST:PORT`: reach agents on NATS through this server (docs/transport.md). */
  nats?: string;
  /** The NATS credentials file (a `.creds` file or a user nkey seed). */
  natsCreds?: string;
}

/** Each option's environment variable. The controller id is not `KEYHOLE_ID`: the agent reads that one. */
export const CONTROLLER_ENV_VARS = {
  dataDir: "KEYHOLE_DATA_DIR",
  policy: "KEYHOLE_POLICY",
  inventory: "KEYHOLE_INVENTORY",
  signingKey: "KEYHOLE_SIGNING_KEY",
  listen: "KEYHOLE_LISTEN",
  database: "KEYHOLE_DATABASE",
  databaseFile: "KEYHOLE_DATABASE_FILE",
  id: "KEYHOLE_CONTROLLER_ID",
  sweepIntervalSeconds: "KEYHOLE_SWEEP_INTERVAL_SECONDS",
  dispatchTimeoutSeconds: "KEYHOLE_DISPATCH_TIMEOUT_SECONDS",
  auditCheckpointRecords: "KEYHOLE_AUDIT_CHECKPOINT_RECORDS",
  auditCheckpointSeconds: "KEYHOLE_AUDIT_CHECKPOINT_SECONDS",
  auditKey: "KEYHOLE_AUDIT_KEY",
  logLevel: "KEYHOLE_LOG_LEVEL",
  s3Bucket: "KEYHOLE_S3_BUCKET",
  s3Prefix: "KEYHOLE_S3_PREFIX",
  s3Endpoint: "KEYHOLE_S3_ENDPOINT",
  s3ForcePathStyle: "KEYHOLE_S3_FORCE_PATH_STYLE",
  s3Region: "KEYHOLE_S3_REGION",
  s3Sse: "KEYHOLE_S3_SSE",
  s3SseKmsKeyId: "KEYHOLE_S3_SSE_KMS_KEY_ID",
  s3PartSizeMib: "KEYHOLE_S3_PART_SIZE_MIB",
  artifactMaxMib: "KEYHOLE_ARTIFACT_MAX_MIB",
  oidcIssuer: "KEYHOLE_OIDC_ISSUER",
  oidcAudience: "KEYHOLE_OIDC_AUDIENCE",
  oidcGroupsClaim: "KEYHOLE_OIDC_GROUPS_CLAIM",
  publicUrl: "KEYHOLE_PUBLIC_URL",
  approvalWebhook: "KEYHOLE_APPROVAL_WEBHOOK",
  approvalWebhookFile: "KEYHOLE_APPROVAL_WEBHOOK_FILE",
  rateLimitPerMinute: "KEYHOLE_RATE_LIMIT_PER_MINUTE",
  inlineResultsMaxMib: "KEYHOLE_INLINE_RESULTS_MAX_MIB",
  reviewOverdueHours: "KEYHOLE_REVIEW_OVERDUE_HOURS",
  triggerRules: "KEYHOLE_TRIGGER_RULES",
  heartbeatSeconds: "KEYHOLE_HEARTBEAT_SECONDS",
  offlineAfterSeconds: "KEYHOLE_OFFLINE_AFTER_SECONDS",
  agentNetworks: "KEYHOLE_AGENT_NETWORKS",
  tlsCert: "KEYHOLE_TLS_CERT",
  tlsKey: "KEYHOLE_TLS_KEY",
  agentCa: "KEYHOLE_AGENT_CA",
  clientCert: "KEYHOLE_CLIENT_CERT",
  clientKey: "KEYHOLE_CLIENT_KEY",
  tlsReloadSeconds: "KEYHOLE_TLS_RELOAD_SECONDS",
  nats: "KEYHOLE_NATS",
  natsCreds: "KEYHOLE_NATS_CREDS",
} as const satisfies Record<keyof ControllerOptions, string>;

const FLAGS: Record<keyof ControllerOptions, string> = {
  dataDir: "--data-dir",
  policy: "--policy",
  inventory: "--inventory",
  signingKey: "--signing-key",
  listen: "--listen",
  database: "--database",
  databaseFile: "--database-file",
  id: "--id",
  sweepIntervalSeconds: "--sweep-interval-seconds",
  dispatchTimeoutSeconds: "--dispatch-timeout-seconds",
  auditCheckpointRecords: "--audit-checkpoint-records",
  auditCheckpointSeconds: "--audit-checkpoint-seconds",
  auditKey: "--audit-key",
  logLevel: "--log-level",
  s3Bucket: "--s3-bucket",
  s3Prefix: "--s3-prefix",
  s3Endpoint: "--s3-endpoint",
  s3ForcePathStyle: "--s3-force-path-style",
  s3Region: "--s3-region",
  s3Sse: "--s3-sse",
  s3SseKmsKeyId: "--s3-sse-kms-key-id",
  s3PartSizeMib: "--s3-part-size-mib",
  artifactMaxMib: "--artifact-max-mib",
  oidcIssuer: "--oidc-issuer",
  oidcAudience: "--oidc-audience",
  oidcGroupsClaim: "--oidc-groups-claim",
  publicUrl: "--public-url",
  approvalWebhook: "--approval-webhook",
  approvalWebhookFile: "--approval-webhook-file",
  rateLimitPerMinute: "--rate-limit-per-minute",
  inlineResultsMaxMib: "--inline-results-max-mib",
  reviewOverdueHours: "--review-overdue-hours",
  triggerRules: "--trigger-rules",
  heartbeatSeconds: "--heartbeat-seconds",
  offlineAfterSeconds: "--offline-after-seconds",
  agentNetworks: "--agent-networks",
  tlsCert: "--tls-cert",
  tlsKey: "--tls-key",
  agentCa: "--agent-ca",
  clientCert: "--client-cert",
  clientKey: "--client-key",
  tlsReloadSeconds: "--tls-reload-seconds",
  nats: "--nats",
  natsCreds: "--nats-creds",
};

const listenSchema = z.string().transform((text, ctx) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65_535) {
    ctx.addIssue({ code: "custom", message: `must be HOST:PORT (e.g. 127.0.0.1:7400), got "${text}"` });
    return z.NEVER;
  }
  return { host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port };
});

const signingKeySchema = z.string().transform((text, ctx) => {
  const eq = text.indexOf("=");
  const environment = text.slice(0, eq);
  const file = text.slice(eq + 1);
  if (eq < 1 || file === "" || !environmentNameSchema.safeParse(environment).success) {
    ctx.addIssue({ code: "custom", message: `must be ENV=FILE with ENV an environment name, got "${text}"` });
    return z.NEVER;
  }
  return { environment, file };
});

/** Database URL → store choice: `postgres://…` (or `postgresql://…`), else `sqlite:PATH` or a path. */
const databaseSchema = z.string().transform((text, ctx) => {
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let host = "";
    try {
      host = new URL(text).hostname;
    } catch {
      // reported below
    }
    if (!host) {
      ctx.addIssue({
        code: "custom",
        message: "must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (a URL with a host)",
      });
      return z.NEVER;
    }
    return { kind: "postgres" as const, url: text };
  }
  const path = text.startsWith("sqlite:") ? text.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "") : text;
  if (path === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    ctx.addIssue({
      code: "custom",
      message: `unsupported database "${text}": use sqlite:PATH or a file path`,
    });
    return z.NEVER;
  }
  return { kind: "sqlite" as const, path };
});

/** An OIDC issuer: https, or http on a loopback address (a test or a local issuer). */
const issuerSchema = z.url({ protocol: /^https?$/ }).refine((text) => {
  const url = new URL(text);
  return url.protocol === "https:" || ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
}, "must be an https URL (http only on a loopback address)");

const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const rawSchema = z.strictObject({
  dataDir: z.string().min(1).default("./keyhole-data"),
  policy: z.string().min(1).optional(),
  inventory: z.string().min(1).optional(),
  signingKey: z.array(signingKeySchema).default([]),
  listen: listenSchema.default({ host: "127.0.0.1", port: 7400 }),
  database: databaseSchema.optional(),
  id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "must be an id (A-Z, a-z, 0-9, ._:/-)")
    .default("keyhole-controller"),
  /** How often stale pending requests are expired. */
  sweepIntervalSeconds: seconds(1, 3600).default(30),
  /** How long one dispatch may take, agent's work included (a CPU profile runs up to 60 s). */
  dispatchTimeoutSeconds: seconds(1, 600).default(90),
  /** Audit checkpoints: after this many records, or this long after the last one (docs/audit.md). */
  auditCheckpointRecords: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  auditCheckpointSeconds: seconds(1, 86_400).default(300),
  auditKey: z.string().min(1).optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  s3Bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name")
    .optional(),
  s3Prefix: z
    .string()
    .max(512)
    .regex(/^[^\\\s]*$/, "must not contain spaces or backslashes")
    .default(""),
  s3Endpoint: z.url({ protocol: /^https?$/ }).optional(),
  s3ForcePathStyle: z
    .union([
      z.boolean(),
      z.enum(["true", "false", "1", "0", ""]).transform((v) => v === "true" || v === "1" || v === ""),
    ])
    .default(false),
  s3Region: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, "must be a region name")
    .optional(),
  s3Sse: z.enum(["AES256", "aws:kms", "aws:kms:dsse"]).optional(),
  s3SseKmsKeyId: z.string().min(1).max(2048).optional(),
  /** 5 MiB is S3's smallest part; fractions are allowed so tests can use small parts on s3rver. */
  s3PartSizeMib: z.coerce
    .number()
    .positive()
    .max(5 * 1024)
    .default(8),
  artifactMaxMib: z.coerce
    .number()
    .positive()
    .max(5 * 1024 * 1024)
    .default(4096),
  oidcIssuer: issuerSchema.optional(),
  oidcAudience: z.string().min(1).max(256).optional(),
  oidcGroupsClaim: z
    .string()
    .regex(/^[A-Za-z0-9_:./-]{1,128}$/, "must be a claim name")
    .default("groups"),
  publicUrl: z
    .url({ protocol: /^https?$/ })
    .refine((text) => {
      const url = new URL(text);
      return (url.pathname === "/" || url.pathname === "") && !url.search && !url.hash && !url.username;
    }, "must be an origin like https://keyhole.example.com (no path, query or credentials)")
    .transform((text) => new URL(text).origin)
    .optional(),
  approvalWebhook: z.url({ protocol: /^https?$/ }).optional(),
  rateLimitPerMinute: z.coerce.number().int().min(0).max(100_000).default(30),
  /** At least one whole answer (16 MiB); the default keeps the 512Mi controller limit's headroom. */
  inlineResultsMaxMib: z.coerce
    .number()
    .int()
    .min(16)
    .max(64 * 1024)
    .default(64),
  reviewOverdueHours: z.coerce
    .number()
    .positive()
    .max(24 * 365)
    .default(24),
  triggerRules: z.string().min(1).optional(),
  heartbeatSeconds: seconds(1, 3600).default(15),
  offlineAfterSeconds: seconds(1, 86_400).optional(),
  agentNetworks: z
    .array(
      z.string().transform((text, ctx) => {
        try {
          return parseAgentNetworks(text);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
          return z.NEVER;
        }
      }),
    )
    .default([]),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  agentCa: z.string().min(1).optional(),
  clientCert: z.string().min(1).optional(),
  clientKey: z.string().min(1).optional(),
  tlsReloadSeconds: seconds(1, 3600).default(DEFAULT_TLS_RELOAD_SECONDS),
  nats: z
    .string()
    .refine((url) => natsUrlProblem(url) === undefined, {
      error: (issue) => natsUrlProblem(String(issue.input)) ?? "must be a nats:// URL",
    })
    .optional(),
  natsCreds: z.string().min(1).optional(),
});

export interface ControllerConfig {
  readonly dataDir: string;
  readonly policyPath: string | undefined;
  readonly inventoryPath: string | undefined;
  readonly signingKeys: readonly { readonly environment: string; readonly file: string }[];
  readonly listen: { readonly host: string; readonly port: number };
  /** The embedded SQLite file, or a PostgreSQL URL (may hold a password: never log it). */
  readonly database:
    | { readonly kind: "sqlite"; readonly path: string }
    | { readonly kind: "postgres"; readonly url: string };
  readonly id: string;
  readonly sweepIntervalSeconds: number;
  readonly dispatchTimeoutSeconds: number;
  readonly auditCheckpointRecords: number;
  readonly auditCheckpointSeconds: number;
  /** The audit key file; undefined means the data dir's (generated on first start). */
  readonly auditKeyPath: string | undefined;
  readonly logLevel: z.output<typeof rawSchema>["logLevel"];
  /** Largest accepted request body. */
  readonly bodyLimitBytes: number;
  /** Largest agent answer stored as a result. */
  readonly maxResultBytes: number;
  /** Agents' answers held in memory at once, all requests together (issue 23, finding 6). */
  readonly inlineResultsMaxBytes: number;
  readonly artifacts: ArtifactStoreConfig;
  /** Accept ID tokens of this OIDC issuer besides controller-issued tokens. */
  readonly oidc:
    | { readonly issuer: string; readonly audience: string; readonly groupsClaim: string }
    | undefined;
  /** Where pending requests and break-glass uses are announced (may hold a secret: never log it). */
  readonly approvalWebhook: string | undefined;
  /** Where people reach the console (an origin), if configured. */
  readonly publicUrl: string | undefined;
  /** Requests one subject may create per minute, per controller process; 0 means unlimited. */
  readonly rateLimitPerMinute: number;
  /** Age at which an open break-glass review is reported as overdue. */
  readonly reviewOverdueSeconds: number;
  /** The alert trigger rules file, if any. */
  readonly triggerRulesPath: string | undefined;
  readonly heartbeatSeconds: number;
  readonly offlineAfterSeconds: number;
  /** `--agent-networks`, parsed: per environment, the networks enrolled agents may be in. */
  readonly agentNetworks: readonly AgentNetworkEntry[];
  /** TLS files (absolute paths), docs/operations.md "TLS": what the API serves, what agents are checked with. */
  readonly tls: {
    /** The API's own certificate and key: HTTPS when set. */
    readonly server: { readonly cert: string; readonly key: string } | undefined;
    /** `--agent-ca`, `--client-cert`, `--client-key`: every connection to an agent. */
    readonly agents: {
      readonly ca: string | undefined;
      readonly cert: string | undefined;
      readonly key: string | undefined;
    };
    readonly reloadSeconds: number;
  };
  /** `--nats` and `--nats-creds` (absolute): how agents on NATS are reached; absent without one. */
  readonly nats: { readonly url: string; readonly credsFile: string | undefined } | undefined;
}

/** Where artifacts go: a local folder (the embedded default) or an S3 bucket. */
export type ArtifactStoreConfig =
  | { readonly kind: "local"; readonly dir: string; readonly maxBytes: number }
  | {
      readonly kind: "s3";
      readonly bucket: string;
      readonly prefix: string;
      readonly endpoint: string | undefined;
      readonly forcePathStyle: boolean;
      readonly region: string | undefined;
      readonly sse:
        | { readonly mode: "AES256" | "aws:kms" | "aws:kms:dsse"; readonly kmsKeyId?: string }
        | undefined;
      readonly partSizeBytes: number;
      readonly maxBytes: number;
    };

/**
 * Merges CLI options over `KEYHOLE_*` variables over defaults, validates everything and returns a
 * frozen config with absolute paths. Throws a ConfigError listing every problem.
 */
export function loadControllerConfig(
  options: ControllerOptions,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = process.cwd(),
): ControllerConfig {
  const merged: Record<string, unknown> = {};
  const fromFlag = new Set<keyof ControllerOptions>();
  for (const key of Object.keys(CONTROLLER_ENV_VARS) as (keyof ControllerOptions)[]) {
    const fromOption = options[key];
    const fromEnv = env[CONTROLLER_ENV_VARS[key]];
    if (fromOption !== undefined && !(Array.isArray(fromOption) && fromOption.length === 0)) {
      merged[key] = fromOption;
      fromFlag.add(key);
    } else if (fromEnv !== undefined && fromEnv !== "") {
      merged[key] =
        key === "signingKey"
          ? fromEnv.split(",").map((s) => s.trim())
          : // KEYHOLE_AGENT_NETWORKS: one ENV=CIDR,… per environment, separated by ';' or whitespace.
            key === "agentNetworks"
            ? fromEnv.split(/[;\s]+/).filter((s) => s !== "")
            : fromEnv;
    }
  }
  // A flag beats a variable across a secret's two forms too: `--database` over KEYHOLE_DATABASE_FILE.
  for (const [fileKey, valueKey] of SECRET_FILES) {
    if (fromFlag.has(valueKey) && !fromFlag.has(fileKey)) delete merged[fileKey];
    if (fromFlag.has(fileKey) && !fromFlag.has(valueKey)) delete merged[valueKey];
  }
  const unknown = Object.keys(options).filter((k) => !(k in CONTROLLER_ENV_VARS));
  const problems = unknown.map((k) => `unknown option "${k}"`);
  readSecretFiles(merged, problems, cwd);
  const result = rawSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path[0] as keyof ControllerOptions;
      const where = key in FLAGS ? `${FLAGS[key]} (${CONTROLLER_ENV_VARS[key]})` : String(key);
      problems.push(`${where}: ${issue.message}`);
    }
  }
  const raw = result.data;
  if (raw) {
    const seen = new Set<string>();
    for (const { environment } of raw.signingKey) {
      if (seen.has(environment))
        problems.push(`--signing-key (KEYHOLE_SIGNING_KEY): two keys for "${environment}"`);
      seen.add(environment);
    }
  }
  if (raw && raw.s3Bucket === undefined) {
    for (const key of ["s3Prefix", "s3Endpoint", "s3Sse", "s3SseKmsKeyId"] as const) {
      if (merged[key] !== undefined)
        problems.push(`${FLAGS[key]} (${CONTROLLER_ENV_VARS[key]}): needs --s3-bucket`);
    }
  }
  if (raw?.s3SseKmsKeyId !== undefined && !raw.s3Sse?.startsWith("aws:kms"))
    problems.push("--s3-sse-kms-key-id (KEYHOLE_S3_SSE_KMS_KEY_ID): needs --s3-sse aws:kms or aws:kms:dsse");
  if (raw && raw.s3Bucket !== undefined && raw.s3PartSizeMib * 10_000 < raw.artifactMaxMib)
    problems.push("--s3-part-size-mib: 10000 parts of this size cannot hold --artifact-max-mib");
  if (raw && (raw.oidcIssuer === undefined) !== (raw.oidcAudience === undefined))
    problems.push("--oidc-issuer and --oidc-audience (KEYHOLE_OIDC_*): give both or neither");
  if (raw && raw.oidcIssuer === undefined && merged.oidcGroupsClaim !== undefined)
    problems.push("--oidc-groups-claim (KEYHOLE_OIDC_GROUPS_CLAIM): needs --oidc-issuer");
  if (raw?.offlineAfterSeconds !== undefined && raw.offlineAfterSeconds <= raw.heartbeatSeconds)
    problems.push("--offline-after-seconds (KEYHOLE_OFFLINE_AFTER_SECONDS): must exceed --heartbeat-seconds");
  if (raw && (raw.tlsCert === undefined) !== (raw.tlsKey === undefined))
    problems.push("--tls-cert and --tls-key (KEYHOLE_TLS_CERT, KEYHOLE_TLS_KEY): give both or neither");
  if (raw && (raw.clientCert === undefined) !== (raw.clientKey === undefined))
    problems.push(
      "--client-cert and --client-key (KEYHOLE_CLIENT_CERT, KEYHOLE_CLIENT_KEY): give both or neither",
    );
  if (raw && raw.nats === undefined && raw.natsCreds !== undefined)
    problems.push("--nats-creds (KEYHOLE_NATS_CREDS): needs --nats");
  if (problems.length > 0 || !raw) throw new ConfigError("invalid controller configuration", problems);

  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const dataDir = abs(raw.dataDir);
  const defaultInventory = join(dataDir, "inventory.yaml");
  return Object.freeze({
    dataDir,
    policyPath: raw.policy === undefined ? undefined : abs(raw.policy),
    inventoryPath:
      raw.inventory !== undefined
        ? abs(raw.inventory)
        : existsSync(defaultInventory)
          ? defaultInventory
          : undefined,
    signingKeys: Object.freeze(
      raw.signingKey.map((k) => Object.freeze({ environment: k.environment, file: abs(k.file) })),
    ),
    listen: Object.freeze(raw.listen),
    database: Object.freeze(
      raw.database?.kind === "postgres"
        ? raw.database
        : { kind: "sqlite" as const, path: abs(raw.database?.path ?? join(dataDir, "keyhole.db")) },
    ),
    id: raw.id,
    sweepIntervalSeconds: raw.sweepIntervalSeconds,
    dispatchTimeoutSeconds: raw.dispatchTimeoutSeconds,
    auditCheckpointRecords: raw.auditCheckpointRecords,
    auditCheckpointSeconds: raw.auditCheckpointSeconds,
    auditKeyPath: raw.auditKey === undefined ? undefined : abs(raw.auditKey),
    logLevel: raw.logLevel,
    bodyLimitBytes: 64 * 1024,
    maxResultBytes: 16 * 1024 * 1024,
    inlineResultsMaxBytes: raw.inlineResultsMaxMib * MIB,
    artifacts: Object.freeze(artifactStoreConfig(raw, dataDir)),
    oidc:
      raw.oidcIssuer !== undefined && raw.oidcAudience !== undefined
        ? Object.freeze({
            issuer: raw.oidcIssuer,
            audience: raw.oidcAudience,
            groupsClaim: raw.oidcGroupsClaim,
          })
        : undefined,
    approvalWebhook: raw.approvalWebhook,
    publicUrl: raw.publicUrl,
    rateLimitPerMinute: raw.rateLimitPerMinute,
    reviewOverdueSeconds: Math.round(raw.reviewOverdueHours * 3600),
    triggerRulesPath: raw.triggerRules === undefined ? undefined : abs(raw.triggerRules),
    heartbeatSeconds: raw.heartbeatSeconds,
    offlineAfterSeconds: raw.offlineAfterSeconds ?? raw.heartbeatSeconds * 3,
    agentNetworks: Object.freeze(raw.agentNetworks),
    tls: Object.freeze({
      server:
        raw.tlsCert !== undefined && raw.tlsKey !== undefined
          ? Object.freeze({ cert: abs(raw.tlsCert), key: abs(raw.tlsKey) })
          : undefined,
      agents: Object.freeze({
        ca: raw.agentCa === undefined ? undefined : abs(raw.agentCa),
        cert: raw.clientCert === undefined ? undefined : abs(raw.clientCert),
        key: raw.clientKey === undefined ? undefined : abs(raw.clientKey),
      }),
      reloadSeconds: raw.tlsReloadSeconds,
    }),
    nats:
      raw.nats === undefined
        ? undefined
        : Object.freeze({
            url: raw.nats,
            credsFile: raw.natsCreds === undefined ? undefined : abs(raw.natsCreds),
          }),
  });
}

const MIB = 1024 * 1024;

/**
 * Options that carry a secret (a database URL with its password, a webhook URL with its token) can
 * come from a file instead, so the secret is in neither the process's argv nor its environment,
 * which other processes of the same user (a workload sharing the pod's PID namespace) can read from
 * /proc. The file's content, without trailing whitespace, is the value; giving both is a problem.
 */
const SECRET_FILES = [
  ["databaseFile", "database"],
  ["approvalWebhookFile", "approvalWebhook"],
] as const satisfies readonly (readonly [keyof ControllerOptions, keyof ControllerOptions])[];

function readSecretFiles(merged: Record<string, unknown>, problems: string[], cwd: string): void {
  for (const [fileKey, valueKey] of SECRET_FILES) {
    const file = merged[fileKey];
    delete merged[fileKey];
    if (file === undefined) continue;
    const where = `${FLAGS[fileKey]} (${CONTROLLER_ENV_VARS[fileKey]})`;
    if (merged[valueKey] !== undefined) {
      problems.push(`${where}: give ${FLAGS[valueKey]} or ${FLAGS[fileKey]}, not both`);
      continue;
    }
    const path = String(file);
    try {
      const value = readFileSync(isAbsolute(path) ? path : resolve(cwd, path), "utf8").trimEnd();
      if (value === "") problems.push(`${where}: ${path} is empty`);
      else merged[valueKey] = value;
    } catch (err) {
      problems.push(
        `${where}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
}

function artifactStoreConfig(raw: z.output<typeof rawSchema>, dataDir: string): ArtifactStoreConfig {
  const maxBytes = Math.floor(raw.artifactMaxMib * MIB);
  if (raw.s3Bucket === undefined) return { kind: "local", dir: join(dataDir, "artifacts"), maxBytes };
  return {
    kind: "s3",
    bucket: raw.s3Bucket,
    prefix: raw.s3Prefix,
    endpoint: raw.s3Endpoint,
    forcePathStyle: raw.s3ForcePathStyle,
    region: raw.s3Region,
    sse: raw.s3Sse
      ? { mode: raw.s3Sse, ...(raw.s3SseKmsKeyId ? { kmsKeyId: raw.s3SseKmsKeyId } : {}) }
      : undefined,
    partSizeBytes: Math.floor(raw.s3PartSizeMib * MIB),
    maxBytes,
  };
}
