/**
 * Reading the policy file into an immutable model. Every problem, schema or cross-reference, is
 * collected with its `file:line:col` before start-up is refused.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ConfigError } from "../errors.js";
import { YamlSource } from "../yaml-source.js";
import { DEFAULT_POLICY_SOURCE, DEFAULT_POLICY_YAML } from "./default-policy.js";
import { type EnvironmentPolicy, type PolicyBinding, policyFileSchema } from "./schema.js";

export interface Policy {
  /** The file it came from, or the embedded default's name. */
  readonly source: string;
  /** SHA-256 (hex) of the policy text: recorded in the audit trail at start. */
  readonly digest: string;
  readonly environments: ReadonlyMap<string, Readonly<EnvironmentPolicy>>;
  readonly roles: ReadonlyMap<string, { readonly actions: readonly string[] }>;
  readonly bindings: readonly Readonly<PolicyBinding>[];
}

/** Parses policy YAML text; throws a ConfigError naming every problem with its position. */
export function parsePolicy(text: string, file: string): Policy {
  const source = new YamlSource(text, file);
  const parsed = source.check(policyFileSchema);
  checkReferences(source);
  if (source.problems.length > 0 || !parsed) throw new ConfigError(`invalid policy ${file}`, source.problems);
  return Object.freeze({
    source: file,
    digest: createHash("sha256").update(text).digest("hex"),
    environments: new Map(Object.entries(parsed.environments).map(([k, v]) => [k, Object.freeze(v)])),
    roles: new Map(
      Object.entries(parsed.roles).map(([k, v]) => [k, Object.freeze({ actions: Object.freeze(v.actions) })]),
    ),
    bindings: Object.freeze(parsed.bindings.map((b) => Object.freeze(b))),
  });
}

/** Loads the policy file, or the embedded default when `path` is undefined. */
export async function loadPolicy(path: string | undefined): Promise<Policy> {
  if (path === undefined) return parsePolicy(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read policy ${path}`, [(err as Error).message], { cause: err });
  }
  return parsePolicy(text, path);
}

/**
 * Unknown roles and environments in bindings. Runs on the raw data, even when the schema found other
 * problems, so all of them are listed at once.
 */
function checkReferences(source: YamlSource): void {
  const raw = asRecord(source.data);
  if (!raw) return;
  const environments = new Set(Object.keys(asRecord(raw.environments) ?? {}));
  const roles = new Set(Object.keys(asRecord(raw.roles) ?? {}));
  if (!Array.isArray(raw.bindings)) return;
  for (const [i, binding] of raw.bindings.entries()) {
    const b = asRecord(binding);
    if (!b) continue;
    if (typeof b.role === "string" && !roles.has(b.role)) {
      source.problem(["bindings", i, "role"], `unknown role "${b.role}"`);
    }
    if (!Array.isArray(b.environments)) continue;
    for (const [j, env] of b.environments.entries()) {
      if (typeof env === "string" && env !== "*" && !environments.has(env)) {
        source.problem(["bindings", i, "environments", j], `unknown environment "${env}"`);
      }
    }
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
