/**
 * Whether a requester is still entitled to what they filed. Filing checks the caller against the
 * policy (`evaluate`); a request that waits for approval, or an approved one that waits for dispatch,
 * is checked again with the same rule against the policy and credentials in force then, so a policy
 * reload or a revoked credential in between stops it (issue 16, finding F1). Used at filing, at
 * approval and right before signing, for single requests and collections alike.
 */
import { tokenNotOnChain } from "../identity/credential-chain.js";
import type { Principal } from "../identity/principal.js";
import { sameSubject } from "../identity/subject.js";
import { evaluate, type PolicyDecision } from "../policy/evaluate.js";
import type { Policy } from "../policy/load-policy.js";
import type { RequesterRecord, Store } from "../store/types.js";
import { approvalRecordsOf } from "./chain-approvals.js";

/** What the rule reads of a request or a collection. */
export interface Entitled {
  readonly subject: string;
  readonly action: string;
  readonly environment: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly requester: RequesterRecord | undefined;
  /** Break-glass requests also need an environment that still allows break-glass. */
  readonly breakGlass?: boolean;
}

/** The requester part of a principal, as a request keeps it. */
export function requesterOf(who: Principal): RequesterRecord {
  return { groups: [...who.groups], credential: { kind: who.credential.kind, id: who.credential.id } };
}

/**
 * The filing rule: may `who` ask for `action` with `params` in `environment` under `policy`. The one
 * definition filing and every later re-check use.
 */
export function entitlement(
  policy: Policy,
  who: { subject: string; groups: readonly string[] },
  item: { action: string; environment: string; params: Readonly<Record<string, unknown>> },
): PolicyDecision {
  return evaluate(policy, who, item.action, item.environment, item.params);
}

/**
 * Applies the filing rule again to a filed item's requester: their credential must not have been
 * revoked, and the policy in force must still allow them everything the item needs (and break-glass,
 * for a break-glass request). Resolves undefined when they are entitled, else the reason they are
 * not. A credential that merely reached its expiry does not end the item: the pending time bounds
 * the wait, and an OIDC ID token lives minutes. An OIDC requester's groups are the ones their ID
 * token carried at filing; the controller learns of no later change in the issuer.
 */
export async function requesterNotEntitled(
  deps: { readonly policy: Policy; readonly store: Pick<Store, "getToken" | "listCredentialAudit"> },
  item: Entitled,
): Promise<string | undefined> {
  const requester = item.requester;
  if (!requester)
    return `${item.subject} filed it before the controller recorded requesters' credentials; file it again`;
  if (requester.credential.kind === "token") {
    const token = await deps.store.getToken(requester.credential.id);
    if (!token) return `the token ${requester.credential.id} it was filed with no longer exists`;
    if (token.revokedAt !== undefined) {
      return `the token ${requester.credential.id} it was filed with was revoked at ${new Date(token.revokedAt).toISOString()}`;
    }
    const offChain = await tokenNotOnChain(deps.store, token);
    if (offChain) return offChain;
  }
  const decision = entitlement(deps.policy, { subject: item.subject, groups: requester.groups }, item);
  if (!decision.allowed) return `the policy in force no longer allows it: ${decision.reason}`;
  if (item.breakGlass && !deps.policy.environments.get(item.environment)?.breakGlass)
    return `the policy in force no longer allows break-glass in "${item.environment}"`;
  return undefined;
}

/**
 * How many approvals a pending request or collection needs now: what its environment requires
 * under the policy in force, never fewer than when it was filed. Tightening an environment to
 * two-person approval during an incident applies to what is already waiting (the attacker's second
 * pass on issue 16: the count was frozen at filing); loosening it approves nothing by itself.
 */
export function approvalsInForce(
  policy: Policy,
  item: { readonly environment: string; readonly approvalsRequired: number },
): number {
  const now = policy.environments.get(item.environment)?.approvals ?? 0;
  return Math.max(item.approvalsRequired, now);
}

/** What the approver checks read of the store. */
export type ApprovalStore = Pick<
  Store,
  "getToken" | "listCredentialAudit" | "listRequestAudit" | "listCollectionAudit"
>;

/** An approval that no longer counts, and why. */
export interface StaleApproval {
  readonly subject: string;
  readonly reason: string;
}

/**
 * The recorded approvals of an item that no longer count (issue 23 attack, N1: an approval by someone
 * a reload removed from the policy, or whose token was revoked before the dispatch, still counted).
 * An approval counts while its approver is entitled under the policy in force to everything the item
 * needs, with the groups their credential carried when they approved, and that credential is not
 * revoked: the approver's rule applied again, like the requester's. The credential and groups come
 * from the approval's own record on the audit chain; one recorded before approvers' credentials were
 * kept does not count (an approval with no record at all is refused by the chain check).
 */
export async function staleApprovals(
  deps: { readonly policy: Policy; readonly store: ApprovalStore },
  kind: "request" | "collection",
  item: Pick<Entitled, "action" | "environment" | "params"> & {
    readonly id: string;
    readonly approvals: readonly { readonly subject: string }[];
  },
): Promise<StaleApproval[]> {
  if (item.approvals.length === 0) return [];
  const records = await approvalRecordsOf(deps.store, kind, item.id);
  const stale: StaleApproval[] = [];
  for (const { subject } of item.approvals) {
    const record = records.findLast((r) => sameSubject(r.actor, subject));
    // An approval with no record on the chain at all is the chain check's to refuse (chain-approvals.ts).
    if (!record) continue;
    const reason = await approverNotEntitled(deps, item, subject, record?.details.approver);
    if (reason) stale.push({ subject, reason });
  }
  return stale;
}

async function approverNotEntitled(
  deps: { readonly policy: Policy; readonly store: ApprovalStore },
  item: Pick<Entitled, "action" | "environment" | "params">,
  subject: string,
  approver: unknown,
): Promise<string | undefined> {
  const kept = approver as Partial<RequesterRecord> | undefined;
  const credential = kept?.credential;
  if (!kept || !Array.isArray(kept.groups) || !credential || typeof credential.id !== "string")
    return `${subject}'s approval record was written before approvers' credentials were kept; file the request again`;
  if (credential.kind === "token") {
    const token = await deps.store.getToken(credential.id);
    if (!token) return `the token ${credential.id} ${subject} approved with no longer exists`;
    if (token.revokedAt !== undefined)
      return `the token ${credential.id} ${subject} approved with was revoked at ${new Date(token.revokedAt).toISOString()}`;
    const offChain = await tokenNotOnChain(deps.store, token);
    if (offChain) return offChain;
  }
  const decision = entitlement(deps.policy, { subject, groups: kept.groups }, item);
  if (!decision.allowed)
    return `the policy in force no longer allows ${subject} to approve it: ${decision.reason}`;
  return undefined;
}

/** Why an approved item may not be signed under the policy in force now, with the code to end it with. */
export interface NotAllowedNow {
  readonly code: "KH_REQUESTER_NOT_ENTITLED" | "KH_APPROVALS_INSUFFICIENT";
  readonly reason: string;
}

/**
 * Whether an approved request or collection may still be signed: the requester is still entitled
 * (`requesterNotEntitled`) and it holds the approvals its environment requires now, the stricter of
 * the filed count and the policy in force (issue 23, finding 3: a reload that raised approvals from
 * 1 to 2 after the one approval still let it run). Break-glass items skip approvals by design; the
 * entitlement check covers whether the environment still allows break-glass. Resolves undefined when
 * it may be signed.
 */
export async function approvedItemNotAllowed(
  deps: { readonly policy: Policy; readonly store: ApprovalStore },
  item: Entitled & {
    readonly id: string;
    readonly approvalsRequired: number;
    readonly approvals: readonly { readonly subject: string }[];
  },
  kind: "request" | "collection" = "request",
): Promise<NotAllowedNow | undefined> {
  const notEntitled = await requesterNotEntitled(deps, item);
  if (notEntitled) return { code: "KH_REQUESTER_NOT_ENTITLED", reason: notEntitled };
  if (item.breakGlass) return undefined;
  const required = approvalsInForce(deps.policy, item);
  if (required === 0) return undefined;
  // Only approvals whose approvers are entitled now count (issue 23 attack, N1).
  const stale = await staleApprovals(deps, kind, item);
  const counting = item.approvals.length - stale.length;
  if (counting < required) {
    const why = stale.length > 0 ? `; not counted: ${stale.map((s) => s.reason).join("; ")}` : "";
    return {
      code: "KH_APPROVALS_INSUFFICIENT",
      reason: `it has ${counting} approval(s)${stale.length > 0 ? " that count" : ""}, and the policy in force requires ${required} in "${item.environment}"${why}`,
    };
  }
  return undefined;
}

/** The message an item is ended with when the policy in force no longer lets it be signed. */
export function notAllowedMessage(
  item: { readonly id: string; readonly subject: string },
  notAllowed: NotAllowedNow,
  noun = "request",
): string {
  return notAllowed.code === "KH_REQUESTER_NOT_ENTITLED"
    ? `${item.subject} is no longer entitled to ${noun} "${item.id}": ${notAllowed.reason}`
    : `${noun} "${item.id}" lacks the approvals now required: ${notAllowed.reason}`;
}
