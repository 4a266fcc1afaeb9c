/**
 * What the console offers one person on one pending item, decided by the very rules the API's
 * approve and deny apply (requests/decision-rules.ts): a button is shown only when the service would
 * accept it, and the service checks again on submit whatever the page showed.
 */
import type { Principal } from "../identity/principal.js";
import { sameSubject } from "../identity/subject.js";
import { explain } from "../policy/explain.js";
import type { Policy } from "../policy/load-policy.js";
import { assertMayDecide, type Decidable } from "../requests/decision-rules.js";

export interface DecisionOffer {
  /** The requester themself (who may withdraw but never approve). */
  readonly own: boolean;
  /** Undefined when approving is allowed, else why not (the service's own refusal text). */
  readonly cannotApprove: string | undefined;
  readonly cannotDeny: string | undefined;
  /** Why the policy lets this person decide: the allowing binding and the environment's rule. */
  readonly why: string;
}

function refusal(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** What `who` may do with `item` now. */
export function offerFor(
  policy: Policy,
  who: Principal,
  item: Decidable & {
    readonly approvals: readonly { readonly subject: string }[];
    readonly approvalsRequired: number;
  },
  noun: "request" | "collection",
): DecisionOffer {
  const own = sameSubject(who.subject, item.subject);
  let cannotApprove = refusal(() => assertMayDecide(policy, who, item, "approve", noun));
  if (!cannotApprove && item.approvals.some((a) => sameSubject(a.subject, who.subject)))
    cannotApprove = `you have already approved this ${noun}`;
  const cannotDeny = refusal(() => assertMayDecide(policy, who, item, "deny", noun));
  const explanation = explain(policy, who, item.action, item.environment);
  const env = policy.environments.get(item.environment);
  const count = `${item.approvals.length} of ${Math.max(item.approvalsRequired, env?.approvals ?? 0)} approval(s) so far`;
  const why = own
    ? `You filed this ${noun}; someone else entitled to "${item.action}" in "${item.environment}" must approve it (${count}).`
    : cannotApprove
      ? cannotApprove
      : `${explanation.summary}. You are not the requester, so you may approve (${count}).`;
  return { own, cannotApprove, cannotDeny, why };
}
