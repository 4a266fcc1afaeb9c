/**
 * Who may see a request, a review, a collection or an artifact: the person it belongs to, or anyone
 * the policy allows everything creating it required — its action, in its environment, with its
 * params (each action inside a bundle, `heap-snapshot:unredacted` for a raw snapshot; see
 * `privilegesOf`). Seeing is never cheaper than asking: a caller who could not have filed the item
 * cannot read it, its result or its artifact either. Everyone else is told it does not exist
 * (KH_NOT_FOUND), and lists leave it out.
 */
import { sameSubject } from "../identity/subject.js";
import type { PolicySubject } from "./evaluate.js";
import { bindingSubjectMatches, evaluate } from "./evaluate.js";
import type { Policy } from "./load-policy.js";

/** What visibility is decided on. */
export interface Owned {
  readonly subject: string;
  readonly action: string;
  readonly environment: string;
  /**
   * The params the item was filed with (an artifact's or a review's are its request's). Undefined
   * when they cannot be known (the request is gone): then only the owner sees it.
   */
  readonly params: Readonly<Record<string, unknown>> | undefined;
}

export function canSee(policy: Policy, who: PolicySubject, record: Owned): boolean {
  if (sameSubject(record.subject, who.subject)) return true;
  if (record.params === undefined) return false;
  return evaluate(policy, who, record.action, record.environment, record.params).allowed;
}

/** Pages a list scans at most to fill its limit with visible records. */
const MAX_PAGES = 20;

/**
 * The first `limit` records `visible` keeps, from newest-first pages of `limit` rows each.
 * Visibility is a policy question, not SQL, so a bounded number of pages is scanned.
 */
export async function listVisible<T>(
  limit: number,
  page: (before: number | undefined) => Promise<readonly { record: T; cursor: number }[]>,
  visible: (record: T) => boolean | Promise<boolean>,
): Promise<T[]> {
  const out: T[] = [];
  let before: number | undefined;
  for (let n = 0; n < MAX_PAGES && out.length < limit; n++) {
    const rows = await page(before);
    for (const { record } of rows) if (out.length < limit && (await visible(record))) out.push(record);
    if (rows.length < limit) break;
    before = rows.at(-1)!.cursor;
  }
  return out;
}

/** True when some binding gives `who` a role in `environment`: who may see its agents. */
export function seesEnvironment(policy: Policy, who: PolicySubject, environment: string): boolean {
  return policy.bindings.some(
    (b) =>
      (b.environments.includes("*") || b.environments.includes(environment)) &&
      b.subjects.some((s) => bindingSubjectMatches(s, who) !== undefined),
  );
}

/**
 * True when the policy allows `who` every action (`"*"`) in every environment: the only callers who
 * see records that belong to no request (the controller's start, reloads, tokens) in the console.
 */
export function seesEverything(policy: Policy, who: PolicySubject): boolean {
  return [...policy.environments.keys()].every((env) => evaluate(policy, who, "*", env).allowed);
}
