/**
 * Policy decisions: deny unless a binding allows the subject the action in the environment.
 * Pure functions of the policy model, so `keyhole policy explain` can show the same reasoning.
 */
import { privilegesOf, UNREDACTED_SUFFIX } from "../../protocol/request.js";
import type { Policy } from "./load-policy.js";

/** Who is asking: the authenticated subject and the groups their credential carries. */
export interface PolicySubject {
  readonly subject: string;
  readonly groups: readonly string[];
}

export interface PolicyDecision {
  readonly allowed: boolean;
  /** Index of the first binding that allowed it. */
  readonly binding?: number;
  readonly role?: string;
  /** One sentence an operator can read: which rule allowed, or why nothing did. */
  readonly reason: string;
}

/** True when a binding subject (`group:x`, `user:e`, `svc:n`) names this caller. */
export function bindingSubjectMatches(bindingSubject: string, who: PolicySubject): string | undefined {
  if (bindingSubject.startsWith("group:")) {
    return who.groups.includes(bindingSubject.slice(6)) ? bindingSubject : undefined;
  }
  return bindingSubject === who.subject ? bindingSubject : undefined;
}

/** True when a role's action list grants `privilege`; `"*"` never grants an `…:unredacted` one. */
export function roleGrants(roleActions: readonly string[], privilege: string): boolean {
  if (roleActions.includes(privilege)) return true;
  return !privilege.endsWith(UNREDACTED_SUFFIX) && roleActions.includes("*");
}

/**
 * Decides whether `who` may run `action` in `environment`; the first allowing binding wins. With
 * `params`, every further privilege the request needs (each action inside a bundle, a heap snapshot
 * without redaction) must be granted too, by any binding for this subject and environment.
 */
export function evaluate(
  policy: Policy,
  who: PolicySubject,
  action: string,
  environment: string,
  params?: unknown,
): PolicyDecision {
  const decision = evaluateAction(policy, who, action, environment);
  if (!decision.allowed || params === undefined) return decision;
  for (const privilege of privilegesOf(action, params)) {
    if (privilege === action) continue;
    const extra = evaluateAction(policy, who, privilege, environment);
    if (!extra.allowed) {
      const what = privilege.endsWith(UNREDACTED_SUFFIX)
        ? `"${privilege}" (raw memory: a role must list it by name, "*" does not grant it)`
        : `"${privilege}" (inside the ${action})`;
      return { allowed: false, reason: `${decision.reason}, but no binding grants ${who.subject} ${what}` };
    }
  }
  return decision;
}

function evaluateAction(
  policy: Policy,
  who: PolicySubject,
  action: string,
  environment: string,
): PolicyDecision {
  if (!policy.environments.has(environment)) {
    return { allowed: false, reason: `environment "${environment}" is not in the policy` };
  }
  for (const [index, binding] of policy.bindings.entries()) {
    if (!binding.environments.includes("*") && !binding.environments.includes(environment)) continue;
    const matched = binding.subjects.map((s) => bindingSubjectMatches(s, who)).find((s) => s !== undefined);
    if (!matched) continue;
    const role = policy.roles.get(binding.role);
    if (!role || !roleGrants(role.actions, action)) continue;
    return {
      allowed: true,
      binding: index,
      role: binding.role,
      reason: `bindings[${index}] grants role "${binding.role}" to ${matched} in "${environment}", which allows "${action}"`,
    };
  }
  return {
    allowed: false,
    reason: `no binding grants ${who.subject} (groups: ${who.groups.join(", ") || "none"}) "${action}" in "${environment}"`,
  };
}
