/**
 * Who may approve or deny what: the rules shared by single requests and collections. The item must
 * still be pending (and not past its pending time), an approver must be someone else (compared as
 * canonical subjects: `user:Alice@…` is `user:alice@…`), and anyone deciding on another's item must
 * be entitled to everything it needs in its environment, params included.
 */
import { ControllerError } from "../errors.js";
import { sameSubject } from "../identity/subject.js";
import type { PolicySubject } from "../policy/evaluate.js";
import type { Policy } from "../policy/load-policy.js";
import { canSee } from "../policy/visibility.js";
import { entitlement } from "./entitlement.js";

/** What the rules read of a request or a collection. */
export interface Decidable {
  readonly id: string;
  readonly status: string;
  readonly subject: string;
  readonly action: string;
  readonly environment: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly expiresAt: number;
}

export type Verb = "approve" | "deny";

export function invalidState(noun: string, id: string, status: string, verb: Verb): ControllerError {
  return new ControllerError(
    "KH_INVALID_STATE",
    `${noun} "${id}" is ${status}; only a pending ${noun} can be ${verb === "approve" ? "approved" : "denied"}`,
  );
}

/** Throws the coded refusal that tells the caller the most, or returns when `who` may decide. */
export function assertMayDecide(
  policy: Policy,
  who: PolicySubject,
  item: Decidable,
  verb: Verb,
  noun: "request" | "collection",
): void {
  // Someone who may not see it is told it does not exist, before anything about its state.
  if (!canSee(policy, who, item)) throw new ControllerError("KH_NOT_FOUND", `no ${noun} "${item.id}"`);
  if (item.status === "expired") {
    throw new ControllerError(
      "KH_REQUEST_EXPIRED",
      `${noun} "${item.id}" expired at ${new Date(item.expiresAt).toISOString()}`,
    );
  }
  if (item.status !== "pending") throw invalidState(noun, item.id, item.status, verb);
  const own = sameSubject(who.subject, item.subject);
  if (own && verb === "approve")
    throw new ControllerError("KH_SELF_APPROVAL", `you cannot approve your own ${noun}`);
  // The approver's own right, under the policy in force now (a reload since filing counts).
  if (!own && !entitlement(policy, who, item).allowed) {
    throw new ControllerError(
      "KH_POLICY_DENIED",
      `${who.subject} is not allowed "${item.action}" in "${item.environment}", so cannot ${verb} it`,
    );
  }
}
