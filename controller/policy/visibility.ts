/**
 * Who may see a request, a review, a collection or an artifact: the person it belongs to, or anyone
 * the policy allows the same action in the same environment. Everyone else is told it does not
 * exist (KH_NOT_FOUND), and lists leave it out.
 */
import type { PolicySubject } from "./evaluate.js";
import { evaluate } from "./evaluate.js";
import type { Policy } from "./load-policy.js";

/** What visibility is decided on. */
export interface Owned {
  readonly subject: string;
  readonly action: string;
  readonly environment: string;
}

export function canSee(policy: Policy, who: PolicySubject, record: Owned): boolean {
  return record.subject === who.subject || evaluate(policy, who, record.action, record.environment).allowed;
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
  visible: (record: T) => boolean,
): Promise<T[]> {
  const out: T[] = [];
  let before: number | undefined;
  for (let n = 0; n < MAX_PAGES && out.length < limit; n++) {
    const rows = await page(before);
    for (const { record } of rows) if (out.length < limit && visible(record)) out.push(record);
    if (rows.length < limit) break;
    before = rows.at(-1)!.cursor;
  }
  return out;
}
