/**
 * The trigger rules file (`--trigger-rules FILE`): which alerts start which collection. Validated at
 * start like the policy, every problem with its `file:line:col`, all at once.
 *
 * ```yaml
 * rules:
 *   - name: payments-memory
 *     receivers: [svc:alertmanager]                     # who may fire it (required)
 *     match: { alertname: HighMemory, app: payments }   # every label must equal
 *     action: process-info
 *     selector: app=${app},tier=web                     # ${label} takes the alert's label value
 *     environment: production                           # optional
 *     params: {}
 *     maxConcurrency: 5
 *     maxErrors: 10%
 *     cooldown: 15m                                     # per rendered selector (default 30m)
 * ```
 *
 * The action and params are checked against the action catalogue here, at load: a rule no agent
 * could run is a configuration error, not an alert that files a collection an approver must refuse.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ACTION_PARAMS, actionParamsProblem } from "../../protocol/actions.js";
import { LABEL_KEY_PATTERN } from "../../protocol/fleet.js";
import { parseDurationSeconds } from "../duration.js";
import { ConfigError } from "../errors.js";
import { canonicalSubject } from "../identity/subject.js";
import type { Policy } from "../policy/load-policy.js";
import { YamlSource } from "../yaml-source.js";
import { MAX_CONCURRENCY } from "./collections.js";
import { parseMaxErrors } from "./error-budget.js";
import { parseSelector } from "./selector.js";

export const DEFAULT_TRIGGER_COOLDOWN_SECONDS = 30 * 60;

const PLACEHOLDER = /\$\{([A-Za-z0-9._/-]{1,63})\}/g;

/** A receiver: the `svc:` identity an Alertmanager posts as, canonicalised like every subject. */
const receiverSchema = z.string().transform((text, ctx) => {
  const result = canonicalSubject(text);
  if ("problem" in result || !result.subject.startsWith("svc:")) {
    ctx.addIssue({
      code: "custom",
      message: "problem" in result ? result.problem : "a receiver is a service identity (svc:<name>)",
    });
    return z.NEVER;
  }
  return result.subject;
});

const ruleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be a rule name (A-Z, a-z, 0-9, ._-)"),
  /** The identities allowed to fire this rule through the hook; no default, so no rule fires for anyone. */
  receivers: z
    .array(receiverSchema, { error: "name the receivers (svc:<name>) allowed to fire this rule" })
    .min(1, "name at least one receiver (svc:<name>) allowed to fire this rule"),
  match: z
    .record(z.string().regex(LABEL_KEY_PATTERN, "must be a label name"), z.string().min(1).max(256))
    .refine((m) => Object.keys(m).length > 0, "must name at least one label"),
  action: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "must be an action name"),
  selector: z.string().min(1).max(1024),
  environment: z.string().min(1).optional(),
  params: z.record(z.string(), z.unknown()).default({}),
  maxConcurrency: z.number().int().min(1).max(MAX_CONCURRENCY).optional(),
  maxErrors: z.union([z.number().int(), z.string()]).optional(),
  cooldown: z.union([z.number().int(), z.string()]).optional(),
});

const rulesFileSchema = z.strictObject({ rules: z.array(ruleSchema).default([]) });

export interface TriggerRule {
  readonly name: string;
  /** Canonical `svc:` subjects allowed to fire it. */
  readonly receivers: readonly string[];
  readonly match: Readonly<Record<string, string>>;
  readonly action: string;
  /** May hold `${label}` placeholders. */
  readonly selector: string;
  readonly environment: string | undefined;
  readonly params: Readonly<Record<string, unknown>>;
  readonly maxConcurrency: number | undefined;
  readonly maxErrors: string | undefined;
  readonly cooldownSeconds: number;
}

export interface TriggerRules {
  readonly source: string;
  readonly rules: readonly TriggerRule[];
}

export const NO_TRIGGER_RULES: TriggerRules = Object.freeze({ source: "(none)", rules: [] });

/** Parses rules YAML; throws a ConfigError naming every problem with its position. */
export function parseTriggerRules(
  text: string,
  file: string,
  policy: Policy,
  catalogue: ReadonlyMap<string, z.ZodType> = ACTION_PARAMS,
): TriggerRules {
  const source = new YamlSource(text, file);
  // An empty file is a file without rules.
  const parsed = source.check(z.preprocess((v) => v ?? {}, rulesFileSchema));
  const rules: TriggerRule[] = [];
  const names = new Set<string>();
  // The cross-checks read the raw entries, so they are reported together with schema problems.
  const raw = (source.data as { rules?: unknown } | null | undefined)?.rules;
  const ruleList = parsed?.rules ?? [];
  const entries = (Array.isArray(raw) ? raw : []).map((entry: unknown, i: number) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    return {
      name: String(e.name ?? ""),
      receivers: ruleList[i]?.receivers ?? [],
      match: (e.match ?? {}) as Record<string, string>,
      action: String(e.action ?? ""),
      selector: typeof e.selector === "string" ? e.selector : "",
      environment: typeof e.environment === "string" ? e.environment : undefined,
      params: (e.params ?? {}) as Record<string, unknown>,
      maxConcurrency: typeof e.maxConcurrency === "number" ? e.maxConcurrency : undefined,
      maxErrors: e.maxErrors as string | number | undefined,
      cooldown: e.cooldown as string | number | undefined,
    };
  });
  for (const [i, rule] of entries.entries()) {
    const at = (key: string) => ["rules", i, key];
    if (names.has(rule.name)) source.problem(at("name"), `duplicate rule name "${rule.name}"`);
    names.add(rule.name);
    try {
      // Placeholders stand for label values: check the shape with a stand-in value.
      parseSelector(rule.selector.replace(PLACEHOLDER, "x"));
    } catch (err) {
      source.problem(at("selector"), (err as Error).message);
    }
    if (/^[a-z][a-z0-9-]{0,63}$/.test(rule.action)) {
      const problem = actionParamsProblem(rule.action, rule.params, catalogue);
      if (problem)
        source.problem(at(problem.kind === "unknown-action" ? "action" : "params"), problem.message);
    }
    if (rule.environment !== undefined && !policy.environments.has(rule.environment))
      source.problem(at("environment"), `environment "${rule.environment}" is not in the policy`);
    let maxErrors: string | undefined;
    if (rule.maxErrors !== undefined) {
      maxErrors = String(rule.maxErrors);
      try {
        parseMaxErrors(maxErrors);
      } catch (err) {
        source.problem(at("maxErrors"), (err as Error).message.replace("--max-errors", "maxErrors"));
      }
    }
    let cooldownSeconds = DEFAULT_TRIGGER_COOLDOWN_SECONDS;
    if (rule.cooldown !== undefined) {
      try {
        cooldownSeconds = parseDurationSeconds(String(rule.cooldown), 30 * 86_400);
      } catch (err) {
        source.problem(at("cooldown"), (err as Error).message);
      }
    }
    rules.push(
      Object.freeze({
        name: rule.name,
        receivers: Object.freeze([...new Set(rule.receivers)]),
        match: Object.freeze({ ...rule.match }),
        action: rule.action,
        selector: rule.selector,
        environment: rule.environment,
        params: Object.freeze({ ...rule.params }),
        maxConcurrency: rule.maxConcurrency,
        maxErrors,
        cooldownSeconds,
      }),
    );
  }
  if (source.problems.length > 0 || !parsed)
    throw new ConfigError(`invalid trigger rules ${file}`, source.problems);
  return Object.freeze({ source: file, rules: Object.freeze(rules) });
}

/** Loads the rules file; no file means no rules (every alert is answered "no matching rule"). */
export async function loadTriggerRules(
  path: string | undefined,
  policy: Policy,
  catalogue: ReadonlyMap<string, z.ZodType> = ACTION_PARAMS,
): Promise<TriggerRules> {
  if (path === undefined) return NO_TRIGGER_RULES;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read trigger rules ${path}`, [(err as Error).message], { cause: err });
  }
  return parseTriggerRules(text, path, policy, catalogue);
}

/** True when every `match` label equals the alert's. */
export function ruleMatches(rule: TriggerRule, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(rule.match).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}

/**
 * The rule's selector with `${label}` filled from the alert, or the names of the labels the alert
 * lacks. A value that is not a label value makes the selector invalid, which the caller reports.
 */
export function renderSelector(
  rule: TriggerRule,
  labels: Readonly<Record<string, string>>,
): { selector: string } | { missing: string[] } {
  const missing: string[] = [];
  const selector = rule.selector.replace(PLACEHOLDER, (_m, name: string) => {
    if (!Object.hasOwn(labels, name)) {
      missing.push(name);
      return "";
    }
    return labels[name]!;
  });
  return missing.length > 0 ? { missing } : { selector };
}
