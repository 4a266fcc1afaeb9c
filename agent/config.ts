/**
 * The agent's configuration: parsed once from CLI options and `KEYHOLE_*` variables, validated,
 * frozen. Nothing else in the agent reads `process.env`.
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as z from "zod";
import { DEFAULT_TLS_RELOAD_SECONDS } from "../common/tls-server.js";
import { agentIdSchema, labelsSchema } from "../protocol/fleet.js";
import { natsUrlProblem } from "../protocol/nats.js";
import { DEFAULT_MAX_TTL_SECONDS } from "../protocol/request.js";
import { DEFAULT_HTTP_LIMITS } from "./http-limits.js";

/** Options as the CLI hands them over; every one may instead come from `KEYHOLE_<FLAG>`. */
export interface AgentCliOptions {
  id?: string | undefined;
  environment?: string | undefined;
  trustedKeys?: string | undefined;
  listen?: string | undefined;
  target?: string | undefined;
  logRoot?: string[] | undefined;
  actions?: string | undefined;
  maxTtlSeconds?: string | undefined;
  replayCacheSize?: string | undefined;
  fingerprintKeyFile?: string | undefined;
  /** The agent's own Ed25519 key (PEM); default: generated into the state dir on first start. */
  identityKeyFile?: string | undefined;
  shutdownGraceSeconds?: string | undefined;
  stateDir?: string | undefined;
  /** The controller to enroll with (docs/fleet.md). */
  controller?: string | undefined;
  enrollToken?: string | undefined;
  /** A file holding the enrollment token: unlike the flag or variable, not in /proc/<pid>/cmdline or environ. */
  enrollTokenFile?: string | undefined;
  /** `key=value` labels sent at enrollment (repeatable). */
  label?: string[] | undefined;
  /** The URL the controller should reach this agent at; default: the address it enrolls from. */
  advertiseUrl?: string | undefined;
  /** `refuse` (default) or `allow`: heap snapshots when the memory guard cannot see the target's cgroup. */
  memoryGuardUnseen?: string | undefined;
  /** The most a bundle spools of one streamed entry into the temp volume, in MiB. */
  spoolMaxMib?: string | undefined;
  /** PEM certificate chain: with `tlsKey`, the agent serves HTTPS (SPEC §8). */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** PEM CA bundle: requests are served only to clients presenting a certificate it signed (mutual TLS). */
  clientCa?: string | undefined;
  /** PEM CA bundle the controller's HTTPS certificate is verified against at enrollment (default: the system's). */
  controllerCa?: string | undefined;
  /** How often the TLS files are checked for a rotation, in seconds. */
  tlsReloadSeconds?: string | undefined;
  /** `nats://HOST:PORT`: take envelopes over NATS (outbound only) instead of listening (docs/transport.md). */
  connect?: string | undefined;
  /** The NATS credentials file (a `.creds` file or a user nkey seed). */
  natsCreds?: string | undefined;
}

/** Flag name → environment variable, so docs, `--help` and the loader agree. */
export const AGENT_ENV: Record<keyof AgentCliOptions, string> = {
  id: "KEYHOLE_ID",
  environment: "KEYHOLE_ENVIRONMENT",
  trustedKeys: "KEYHOLE_TRUSTED_KEYS",
  listen: "KEYHOLE_LISTEN",
  target: "KEYHOLE_TARGET",
  logRoot: "KEYHOLE_LOG_ROOT",
  actions: "KEYHOLE_ACTIONS",
  maxTtlSeconds: "KEYHOLE_MAX_TTL_SECONDS",
  replayCacheSize: "KEYHOLE_REPLAY_CACHE_SIZE",
  fingerprintKeyFile: "KEYHOLE_FINGERPRINT_KEY_FILE",
  identityKeyFile: "KEYHOLE_IDENTITY_KEY_FILE",
  shutdownGraceSeconds: "KEYHOLE_SHUTDOWN_GRACE_SECONDS",
  stateDir: "KEYHOLE_STATE_DIR",
  controller: "KEYHOLE_CONTROLLER",
  enrollToken: "KEYHOLE_ENROLL_TOKEN",
  enrollTokenFile: "KEYHOLE_ENROLL_TOKEN_FILE",
  label: "KEYHOLE_LABELS",
  advertiseUrl: "KEYHOLE_ADVERTISE_URL",
  memoryGuardUnseen: "KEYHOLE_MEMORY_GUARD_UNSEEN",
  spoolMaxMib: "KEYHOLE_SPOOL_MAX_MIB",
  tlsCert: "KEYHOLE_TLS_CERT",
  tlsKey: "KEYHOLE_TLS_KEY",
  clientCa: "KEYHOLE_CLIENT_CA",
  controllerCa: "KEYHOLE_CONTROLLER_CA",
  tlsReloadSeconds: "KEYHOLE_TLS_RELOAD_SECONDS",
  connect: "KEYHOLE_CONNECT",
  natsCreds: "KEYHOLE_NATS_CREDS",
};

const listenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/, "must be HOST:PORT")
  .transform((value) => {
    const at = value.lastIndexOf(":");
    return { host: value.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(value.slice(at + 1)) };
  })
  .refine((l) => l.port <= 65535, "port must be at most 65535");

const intFromString = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `key=value` pairs into a label set, every pair checked. */
const labelPairsSchema = z
  .array(z.string().regex(/^[^=]+=[^=]*$/, "must be key=value"))
  .transform((pairs) =>
    Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)])),
  )
  .pipe(labelsSchema);

const schema = z.strictObject({
  id: z.string({ error: "is required" }).min(1).max(253),
  environment: z.string({ error: "is required" }).min(1).max(63),
  trustedKeys: z.string({ error: "is required: a JWKS file of the controller's public keys" }).min(1),
  listen: listenSchema.default({ host: "0.0.0.0", port: 7070 }),
  target: z.string().min(1).optional(),
  logRoots: z.array(z.string().min(1)).default([]),
  actions: z.array(z.string().min(1)).optional(),
  maxTtlSeconds: intFromString(1, 3600).default(DEFAULT_MAX_TTL_SECONDS),
  /** Unexpired `jti`s remembered at once; past this the agent answers KH_BUSY rather than forget one. */
  replayCacheSize: intFromString(16, 10_000_000).default(50_000),
  fingerprintKeyFile: z.string().min(1).optional(),
  identityKeyFile: z.string().min(1).optional(),
  /** On SIGTERM, requests in flight get this long to finish before the agent stops anyway. */
  shutdownGraceSeconds: intFromString(0, 3600).default(20),
  /**
   * Where the agent notes inspectors it opened (so a restarted agent closes one a killed agent left
   * open). An emptyDir survives a container restart; the default is under the temp directory.
   */
  stateDir: z
    .string()
    .min(1)
    .default(() => join(tmpdir(), "keyhole-agent")),
  /** HTTP server limits against slow and oversized clients (agent/http-limits.ts). */
  httpLimits: z
    .strictObject({
      headersTimeoutMs: z.number().int().positive(),
      requestTimeoutMs: z.number().int().positive(),
      keepAliveTimeoutMs: z.number().int().positive(),
      idleTimeoutMs: z.number().int().positive(),
      maxHeaderBytes: z.number().int().min(1024),
    })
    .default(() => ({ ...DEFAULT_HTTP_LIMITS })),
  /** Enrollment (docs/fleet.md): both or neither. */
  controller: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  enrollToken: z.string().min(1).max(512).optional(),
  /**
   * Where the enrollment token came from. Only `file` keeps it out of what the workload can read:
   * a flag is in /proc/<pid>/cmdline (readable by every process in the PID namespace), a variable
   * in /proc/<pid>/environ (readable by the workload when it runs as the agent's uid).
   */
  enrollTokenFrom: z.enum(["file", "environment", "flag"]).optional(),
  labels: labelPairsSchema.default({}),
  advertiseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  /**
   * What the heap-snapshot memory guard does when it cannot see the target's memory cgroup (issue 23,
   * finding 1): `refuse` with KH_RESOURCE_GUARD, or `allow` the snapshot unguarded, an operator's
   * explicit choice (the agent warns at start and logs every unguarded snapshot).
   */
  memoryGuardUnseen: z.enum(["refuse", "allow"], { error: 'must be "refuse" or "allow"' }).default("refuse"),
  /**
   * The most a bundle writes of one streamed entry (a heap snapshot) into the temp directory, in MiB
   * (issue 23, finding 9). Set it below the temp volume's `sizeLimit`: past that the kubelet evicts
   * the pod, workload included. The spool is also bounded by the volume's free space (agent/bundle/spool.ts).
   */
  spoolMaxMib: intFromString(1, 1024 * 1024).default(768),
  /** HTTPS (docs/agent.md, "TLS"): certificate and key files, both or neither. */
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  /** Mutual TLS: only clients with a certificate this CA signed are served (needs tlsCert). */
  clientCa: z.string().min(1).optional(),
  /** The CA the controller's certificate is checked against at enrollment; default: the system's roots. */
  controllerCa: z.string().min(1).optional(),
  /** How often the TLS files are checked for a rotation. */
  tlsReloadSeconds: intFromString(1, 3600).default(DEFAULT_TLS_RELOAD_SECONDS),
  /**
   * The NATS transport (docs/transport.md): with `connect` the agent opens no listening socket and
   * takes its envelopes from its own subject on that server.
   */
  connect: z
    .string()
    .refine((url) => natsUrlProblem(url) === undefined, {
      error: (issue) => natsUrlProblem(String(issue.input)) ?? "must be a nats:// URL",
    })
    .optional(),
  natsCreds: z.string().min(1).optional(),
  /** Largest accepted envelope. */
  bodyLimitBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024),
});

export type AgentConfig = Readonly<z.output<typeof schema>>;

/** Splits a list given in one variable: commas, or the path delimiter for directories. */
function splitList(value: string | undefined, separator: RegExp): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(separator)
    .map((s) => s.trim())
    .filter(Boolean);
  return items;
}

/** The token in a secret file (a mounted Secret): its content, without the trailing line break. */
function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(
      `invalid agent configuration:\n  --enroll-token-file (${AGENT_ENV.enrollTokenFile}): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  const token = text.replace(/\r?\n$/, "");
  if (token.length === 0 || /\s/.test(token)) {
    throw new Error(
      `invalid agent configuration:\n  --enroll-token-file (${AGENT_ENV.enrollTokenFile}): ${file} must hold the token alone, on one line`,
    );
  }
  return token;
}

/**
 * Builds the agent's config from CLI options (which win) and the environment.
 * Throws one Error listing every problem when the result is invalid.
 */
export function loadAgentConfig(options: AgentCliOptions, env: NodeJS.ProcessEnv): AgentConfig {
  const pick = (key: keyof AgentCliOptions): string | undefined => {
    const fromFlag = options[key];
    if (typeof fromFlag === "string") return fromFlag;
    return env[AGENT_ENV[key]] || undefined;
  };
  const tokenFile = pick("enrollTokenFile");
  const tokenFlag = options.enrollToken;
  const tokenEnv = tokenFlag === undefined ? env[AGENT_ENV.enrollToken] || undefined : undefined;
  if (tokenFile !== undefined && (tokenFlag !== undefined || tokenEnv !== undefined)) {
    throw new Error(
      `invalid agent configuration:\n  --enroll-token-file (${AGENT_ENV.enrollTokenFile}) and --enroll-token (${AGENT_ENV.enrollToken}) exclude each other`,
    );
  }
  const enrollToken = tokenFile !== undefined ? readTokenFile(tokenFile) : (tokenFlag ?? tokenEnv);
  const enrollTokenFrom =
    tokenFile !== undefined
      ? "file"
      : tokenFlag !== undefined
        ? "flag"
        : tokenEnv !== undefined
          ? "environment"
          : undefined;
  const logRoots =
    options.logRoot && options.logRoot.length > 0 ? options.logRoot : splitList(env.KEYHOLE_LOG_ROOT, /[,:]/);
  const raw = {
    id: pick("id"),
    environment: pick("environment"),
    trustedKeys: pick("trustedKeys"),
    listen: pick("listen"),
    target: pick("target"),
    logRoots,
    actions: splitList(pick("actions"), /,/),
    maxTtlSeconds: pick("maxTtlSeconds"),
    replayCacheSize: pick("replayCacheSize"),
    fingerprintKeyFile: pick("fingerprintKeyFile"),
    identityKeyFile: pick("identityKeyFile"),
    shutdownGraceSeconds: pick("shutdownGraceSeconds"),
    stateDir: pick("stateDir"),
    controller: pick("controller"),
    enrollToken,
    enrollTokenFrom,
    labels: options.label && options.label.length > 0 ? options.label : splitList(env.KEYHOLE_LABELS, /,/),
    advertiseUrl: pick("advertiseUrl"),
    memoryGuardUnseen: pick("memoryGuardUnseen"),
    spoolMaxMib: pick("spoolMaxMib"),
    tlsCert: pick("tlsCert"),
    tlsKey: pick("tlsKey"),
    clientCa: pick("clientCa"),
    controllerCa: pick("controllerCa"),
    tlsReloadSeconds: pick("tlsReloadSeconds"),
    connect: pick("connect"),
    natsCreds: pick("natsCreds"),
  };
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!parsed.success) {
    const flagOf = (path: PropertyKey[]) => {
      const key = String(path[0] ?? "");
      const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
        .replace(/^--log-roots$/, "--log-root")
        .replace(/^--labels$/, "--label");
      const envName =
        AGENT_ENV[key as keyof AgentCliOptions] ??
        (key === "logRoots" ? AGENT_ENV.logRoot : key === "labels" ? AGENT_ENV.label : undefined);
      return envName ? `${flag} (${envName})` : flag;
    };
    const problems = parsed.error.issues.map((i) => `  ${flagOf(i.path)}: ${i.message}`);
    throw new Error(`invalid agent configuration:\n${problems.join("\n")}`);
  }
  if ((parsed.data.controller === undefined) !== (parsed.data.enrollToken === undefined)) {
    throw new Error(
      "invalid agent configuration:\n  --controller (KEYHOLE_CONTROLLER) and --enroll-token-file (KEYHOLE_ENROLL_TOKEN_FILE) or --enroll-token (KEYHOLE_ENROLL_TOKEN) go together",
    );
  }
  const tlsProblems = tlsConfigProblems(parsed.data);
  if (tlsProblems.length > 0)
    throw new Error(`invalid agent configuration:\n${tlsProblems.map((p) => `  ${p}`).join("\n")}`);
  const nats = natsProblems(parsed.data, pick("listen") !== undefined);
  if (nats.length > 0)
    throw new Error(`invalid agent configuration:\n${nats.map((p) => `  ${p}`).join("\n")}`);
  return Object.freeze(parsed.data);
}

/** The TLS flags that only make sense together. */
function tlsConfigProblems(config: z.output<typeof schema>): string[] {
  const problems: string[] = [];
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined))
    problems.push("--tls-cert (KEYHOLE_TLS_CERT) and --tls-key (KEYHOLE_TLS_KEY) go together");
  if (config.clientCa !== undefined && config.tlsCert === undefined)
    problems.push(
      "--client-ca (KEYHOLE_CLIENT_CA) needs --tls-cert and --tls-key: client certificates are asked for in TLS",
    );
  if (config.controllerCa !== undefined && config.controller === undefined)
    problems.push("--controller-ca (KEYHOLE_CONTROLLER_CA) needs --controller");
  if (config.tlsCert !== undefined && config.advertiseUrl?.startsWith("http:"))
    problems.push(
      "--advertise-url (KEYHOLE_ADVERTISE_URL) must be https when the agent serves TLS (--tls-cert)",
    );
  return problems;
}

/** What the NATS transport rules out: a listening address, an advertised URL, an id without a subject. */
function natsProblems(config: z.output<typeof schema>, listenGiven: boolean): string[] {
  const problems: string[] = [];
  if (config.connect === undefined) {
    if (config.natsCreds !== undefined)
      problems.push(`--nats-creds (${AGENT_ENV.natsCreds}) needs --connect (${AGENT_ENV.connect})`);
    return problems;
  }
  const dialsOut = "the NATS transport opens no listening socket";
  if (config.tlsCert !== undefined)
    problems.push(`--tls-cert (${AGENT_ENV.tlsCert}) and --connect exclude each other: ${dialsOut}`);
  if (listenGiven)
    problems.push(`--listen (${AGENT_ENV.listen}) and --connect exclude each other: ${dialsOut}`);
  if (config.advertiseUrl !== undefined)
    problems.push(
      `--advertise-url (${AGENT_ENV.advertiseUrl}) and --connect exclude each other: ${dialsOut}`,
    );
  const id = agentIdSchema.safeParse(config.id);
  if (!id.success)
    problems.push(`--id (${AGENT_ENV.id}): ${id.error.issues[0]?.message} (the NATS subject is made of it)`);
  return problems;
}
