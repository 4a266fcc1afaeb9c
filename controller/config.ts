/**
 * The controller's configuration: CLI options merged over `KEYHOLE_*` environment variables, parsed
 * once by one zod schema and frozen. Nothing else in the controller reads `process.env`.
 */
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.js";
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
  /** The controller id, sent as the envelope's `iss`. */
  id?: string;
  sweepIntervalSeconds?: string | number;
  dispatchTimeoutSeconds?: string | number;
  logLevel?: string;
}

/** Each option's environment variable. The controller id is not `KEYHOLE_ID`: the agent reads that one. */
export const CONTROLLER_ENV_VARS = {
  dataDir: "KEYHOLE_DATA_DIR",
  policy: "KEYHOLE_POLICY",
  inventory: "KEYHOLE_INVENTORY",
  signingKey: "KEYHOLE_SIGNING_KEY",
  listen: "KEYHOLE_LISTEN",
  database: "KEYHOLE_DATABASE",
  id: "KEYHOLE_CONTROLLER_ID",
  sweepIntervalSeconds: "KEYHOLE_SWEEP_INTERVAL_SECONDS",
  dispatchTimeoutSeconds: "KEYHOLE_DISPATCH_TIMEOUT_SECONDS",
  logLevel: "KEYHOLE_LOG_LEVEL",
} as const satisfies Record<keyof ControllerOptions, string>;

const FLAGS: Record<keyof ControllerOptions, string> = {
  dataDir: "--data-dir",
  policy: "--policy",
  inventory: "--inventory",
  signingKey: "--signing-key",
  listen: "--listen",
  database: "--database",
  id: "--id",
  sweepIntervalSeconds: "--sweep-interval-seconds",
  dispatchTimeoutSeconds: "--dispatch-timeout-seconds",
  logLevel: "--log-level",
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

/** Database URL → store choice. PostgreSQL is named so the error can say it is coming, not unknown. */
const databaseSchema = z.string().transform((text, ctx) => {
  if (/^postgres(ql)?:\/\//i.test(text)) {
    ctx.addIssue({
      code: "custom",
      message:
        "PostgreSQL support is not built yet; use sqlite:PATH or leave --database unset for the embedded SQLite",
    });
    return z.NEVER;
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
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export interface ControllerConfig {
  readonly dataDir: string;
  readonly policyPath: string | undefined;
  readonly inventoryPath: string | undefined;
  readonly signingKeys: readonly { readonly environment: string; readonly file: string }[];
  readonly listen: { readonly host: string; readonly port: number };
  readonly database: { readonly kind: "sqlite"; readonly path: string };
  readonly id: string;
  readonly sweepIntervalSeconds: number;
  readonly dispatchTimeoutSeconds: number;
  readonly logLevel: z.output<typeof rawSchema>["logLevel"];
  /** Largest accepted request body. */
  readonly bodyLimitBytes: number;
  /** Largest agent answer stored as a result. */
  readonly maxResultBytes: number;
}

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
  for (const key of Object.keys(CONTROLLER_ENV_VARS) as (keyof ControllerOptions)[]) {
    const fromOption = options[key];
    const fromEnv = env[CONTROLLER_ENV_VARS[key]];
    if (fromOption !== undefined && !(Array.isArray(fromOption) && fromOption.length === 0))
      merged[key] = fromOption;
    else if (fromEnv !== undefined && fromEnv !== "") {
      merged[key] = key === "signingKey" ? fromEnv.split(",").map((s) => s.trim()) : fromEnv;
    }
  }
  const unknown = Object.keys(options).filter((k) => !(k in CONTROLLER_ENV_VARS));
  const result = rawSchema.safeParse(merged);
  const problems = unknown.map((k) => `unknown option "${k}"`);
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
    database: Object.freeze({
      kind: "sqlite" as const,
      path: abs(raw.database?.path ?? join(dataDir, "keyhole.db")),
    }),
    id: raw.id,
    sweepIntervalSeconds: raw.sweepIntervalSeconds,
    dispatchTimeoutSeconds: raw.dispatchTimeoutSeconds,
    logLevel: raw.logLevel,
    bodyLimitBytes: 64 * 1024,
    maxResultBytes: 16 * 1024 * 1024,
  });
}
