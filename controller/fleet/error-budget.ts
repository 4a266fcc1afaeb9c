/**
 * The error budget of a collection, and the pool that honours it.
 *
 * The boundary, exactly: with a budget of B tolerated failures, a new target is started only while
 * at most B targets have failed. The failure that makes the count B + 1 spends the budget: from then
 * on no target is started. Targets already in flight are not cancelled (their agents are already
 * working); they finish and are counted, so the final failure count can exceed B + 1 by at most the
 * number in flight minus one. `--max-errors 0` stops at the first failure; no `--max-errors` means
 * every target is tried.
 *
 * `P%` is a share of the frozen target list, rounded down: `--max-errors 10%` over 25 targets is a
 * budget of 2 (the third failure stops the collection); over 5 targets it is 0.
 */
import type { MaxErrors } from "../store/fleet-types.js";

/** Parses `N` or `P%` (0 ≤ P ≤ 100); throws a RangeError saying what is accepted. */
export function parseMaxErrors(text: string): MaxErrors {
  const match = /^(\d{1,6})(%?)$/.exec(text.trim());
  const value = Number(match?.[1]);
  if (!match || (match[2] === "%" && value > 100))
    throw new RangeError(
      `--max-errors must be a count (e.g. 3) or a percentage 0-100% (e.g. 10%), got "${text}"`,
    );
  return match[2] === "%" ? { kind: "percent", value } : { kind: "count", value };
}

/** Failures tolerated over `targets` targets; without a limit, all of them. */
export function errorBudget(maxErrors: MaxErrors | undefined, targets: number): number {
  if (!maxErrors) return targets;
  if (maxErrors.kind === "count") return maxErrors.value;
  return Math.floor((maxErrors.value * targets) / 100);
}

export function formatMaxErrors(maxErrors: MaxErrors | undefined): string {
  if (!maxErrors) return "unlimited";
  return maxErrors.kind === "count" ? String(maxErrors.value) : `${maxErrors.value}%`;
}

export interface PoolOutcome {
  readonly started: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Never started: the budget was spent, or `shouldStop` said so. */
  readonly skipped: number;
  readonly budgetSpent: boolean;
}

/**
 * Runs `run` over `items` with at most `concurrency` in flight, in order, starting a new one only
 * while `failed <= budget` and `shouldStop()` is false. `run` resolves true for a success; a throw
 * counts as a failure.
 */
export async function runWithBudget<T>(
  items: readonly T[],
  options: { concurrency: number; budget: number; shouldStop?: () => boolean },
  run: (item: T, index: number) => Promise<boolean>,
): Promise<PoolOutcome> {
  let next = 0;
  let succeeded = 0;
  let failed = 0;
  let budgetSpent = false;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      if (failed > options.budget) {
        budgetSpent = true;
        return;
      }
      if (options.shouldStop?.()) return;
      const index = next++;
      let ok: boolean;
      try {
        ok = await run(items[index]!, index);
      } catch {
        ok = false;
      }
      if (ok) succeeded++;
      else failed++;
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return { started: next, succeeded, failed, skipped: items.length - next, budgetSpent };
}
