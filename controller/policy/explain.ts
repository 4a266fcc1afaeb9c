/**
 * `keyhole policy explain`: the same decision as `evaluate`, with the reasoning laid out — which binding
 * and rule allow, or for each binding why it does not apply — and what the environment then demands
 * (approvals, break-glass). Pure: a function of the policy model, used by the CLI on a file and by the
 * controller on its live policy.
 */
import { bindingSubjectMatches, evaluate, type PolicySubject, roleGrants } from "./evaluate.js";
import type { Policy } from "./load-policy.js";

export type BindingOutcome = "allows" | "other-environment" | "other-subject" | "action-not-in-role";

export interface BindingExplanation {
  /** Index in the policy's `bindings` list (`bindings[i]`). */
  readonly index: number;
  readonly role: string;
  readonly outcome: BindingOutcome;
  readonly why: string;
}

export interface Explanation {
  readonly allowed: boolean;
  readonly subject: string;
  readonly groups: readonly string[];
  readonly action: string;
  readonly environment: string;
  readonly target?: string;
  /** One sentence: the allowing binding and rule, or why nothing allows. */
  readonly summary: string;
  /** The first binding that allows (evaluation stops there). */
  readonly binding?: { readonly index: number; readonly role: string; readonly matchedSubject: string };
  /** Every binding up to the allowing one (all of them when denied), with why it does or does not apply. */
  readonly bindings: readonly BindingExplanation[];
  /** What the environment demands once allowed; absent when the environment is not in the policy. */
  readonly environmentRules?: {
    readonly approvals: number;
    readonly breakGlass: boolean;
    readonly breakGlassCooldownSeconds: number;
    readonly maxTtlSeconds: number;
    readonly pendingTtlSeconds: number;
  };
  readonly policy: { readonly source: string; readonly digest: string };
}

/** Explains whether `who` may run `action` in `environment` (on `target`, when named). */
export function explain(
  policy: Policy,
  who: PolicySubject,
  action: string,
  environment: string,
  target?: string,
): Explanation {
  const decision = evaluate(policy, who, action, environment);
  const env = policy.environments.get(environment);
  const bindings: BindingExplanation[] = [];
  let allowing: Explanation["binding"];
  if (env) {
    for (const [index, binding] of policy.bindings.entries()) {
      const role = policy.roles.get(binding.role);
      const matched = binding.subjects.map((s) => bindingSubjectMatches(s, who)).find((s) => s !== undefined);
      let outcome: BindingOutcome;
      let why: string;
      if (!binding.environments.includes("*") && !binding.environments.includes(environment)) {
        outcome = "other-environment";
        why = `covers ${binding.environments.join(", ")}, not "${environment}"`;
      } else if (!matched) {
        outcome = "other-subject";
        why = `names ${binding.subjects.join(", ")}; ${who.subject} (groups: ${who.groups.join(", ") || "none"}) is none of them`;
      } else if (!role || !roleGrants(role.actions, action)) {
        outcome = "action-not-in-role";
        why = `matches ${matched}, but role "${binding.role}" allows ${role?.actions.join(", ") ?? "nothing"}, not "${action}"`;
      } else {
        outcome = "allows";
        why = `matches ${matched}; role "${binding.role}" allows "${action}" in "${environment}"`;
        allowing = { index, role: binding.role, matchedSubject: matched };
      }
      bindings.push({ index, role: binding.role, outcome, why });
      if (allowing) break;
    }
  }
  let summary = decision.reason;
  if (env && !decision.allowed && policy.bindings.length === 0) summary += " (the policy has no bindings)";
  if (env && decision.allowed) {
    summary +=
      env.approvals > 0
        ? `; it then needs ${env.approvals} approval(s) by someone else allowed the same`
        : "; no approval is needed there";
    if (env.breakGlass) summary += "; break-glass is allowed there";
  }
  return {
    allowed: decision.allowed,
    subject: who.subject,
    groups: [...who.groups],
    action,
    environment,
    ...(target === undefined ? {} : { target }),
    summary,
    ...(allowing ? { binding: allowing } : {}),
    bindings,
    ...(env
      ? {
          environmentRules: {
            approvals: env.approvals,
            breakGlass: env.breakGlass,
            breakGlassCooldownSeconds: env.breakGlassCooldownSeconds,
            maxTtlSeconds: env.maxTtlSeconds,
            pendingTtlSeconds: env.pendingTtlSeconds,
          },
        }
      : {}),
    policy: { source: policy.source, digest: policy.digest },
  };
}

/** The explanation as lines a person reads: the verdict, then each binding considered. */
export function renderExplanation(e: Explanation): string {
  const lines = [`${e.allowed ? "ALLOWED" : "DENIED"}: ${e.summary}`];
  for (const b of e.bindings) lines.push(`  bindings[${b.index}] (role ${b.role}): ${b.outcome} — ${b.why}`);
  lines.push(`  policy ${e.policy.source} (sha256 ${e.policy.digest})`);
  return lines.join("\n");
}
