/**
 * Who may approve an item, as the policy names them: the subjects of every binding that grants its
 * action — and every further privilege its params need (`privilegesOf`) — in its environment. What
 * a requester is shown while they wait ("group:sre may approve"), not a decision: approving still
 * goes through the approval rules, which also refuse the requester themself.
 */
import { privilegesOf } from "../../protocol/request.js";
import { sameSubject } from "../identity/subject.js";
import { roleGrants } from "./evaluate.js";
import type { Policy } from "./load-policy.js";

export function approversOf(
  policy: Policy,
  item: {
    readonly subject: string;
    readonly action: string;
    readonly environment: string;
    readonly params: Readonly<Record<string, unknown>>;
  },
): string[] {
  const privileges = [item.action, ...privilegesOf(item.action, item.params)];
  const out = new Set<string>();
  for (const binding of policy.bindings) {
    if (!binding.environments.includes("*") && !binding.environments.includes(item.environment)) continue;
    const role = policy.roles.get(binding.role);
    if (!role || !privileges.every((p) => roleGrants(role.actions, p))) continue;
    for (const subject of binding.subjects) if (!sameSubject(subject, item.subject)) out.add(subject);
  }
  return [...out];
}
