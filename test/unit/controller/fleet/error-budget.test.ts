import { describe, expect, it } from "vitest";
import { errorBudget, parseMaxErrors, runWithBudget } from "../../../../controller/fleet/error-budget.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("the error budget", () => {
  it("parses counts and percentages", () => {
    expect(parseMaxErrors("3")).toEqual({ kind: "count", value: 3 });
    expect(parseMaxErrors("10%")).toEqual({ kind: "percent", value: 10 });
    for (const bad of ["-1", "1.5", "101%", "x", "", "5 %"])
      expect(() => parseMaxErrors(bad)).toThrow(RangeError);
  });

  it("rounds a percentage of the targets down, and is everything without a limit", () => {
    expect(errorBudget({ kind: "percent", value: 10 }, 25)).toBe(2);
    expect(errorBudget({ kind: "percent", value: 10 }, 5)).toBe(0);
    expect(errorBudget({ kind: "percent", value: 100 }, 7)).toBe(7);
    expect(errorBudget({ kind: "count", value: 4 }, 2)).toBe(4);
    expect(errorBudget(undefined, 9)).toBe(9);
  });

  it("with concurrency 1, stops exactly at the failure that makes the count budget + 1", async () => {
    for (const budget of [0, 1, 3]) {
      const ran: number[] = [];
      const outcome = await runWithBudget(
        Array.from({ length: 10 }, (_, i) => i),
        { concurrency: 1, budget },
        async (i) => {
          ran.push(i);
          return false;
        },
      );
      expect(ran).toEqual(Array.from({ length: budget + 1 }, (_, i) => i));
      expect(outcome).toEqual({
        started: budget + 1,
        succeeded: 0,
        failed: budget + 1,
        skipped: 9 - budget,
        budgetSpent: true,
      });
    }
  });

  it("tolerates exactly `budget` failures among successes", async () => {
    // Items 2 and 5 fail; a budget of 2 is never exceeded, so every item runs.
    const outcome = await runWithBudget(
      Array.from({ length: 8 }, (_, i) => i),
      { concurrency: 1, budget: 2 },
      async (i) => i !== 2 && i !== 5,
    );
    expect(outcome).toEqual({ started: 8, succeeded: 6, failed: 2, skipped: 0, budgetSpent: false });
  });

  it("never has more than `concurrency` in flight, and lets the ones in flight finish", async () => {
    let inFlight = 0;
    let peak = 0;
    const outcome = await runWithBudget(
      Array.from({ length: 40 }, (_, i) => i),
      { concurrency: 5, budget: 3 },
      async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick();
        inFlight--;
        return i < 20 || i % 2 === 0; // failures start at 21
      },
    );
    expect(peak).toBe(5);
    expect(outcome.failed).toBeGreaterThan(3);
    expect(outcome.failed).toBeLessThanOrEqual(3 + 5);
    expect(outcome.started).toBe(outcome.succeeded + outcome.failed);
    expect(outcome.skipped).toBe(40 - outcome.started);
    expect(outcome.budgetSpent).toBe(true);
  });

  it("counts a throw as a failure and honours shouldStop", async () => {
    let stop = false;
    const outcome = await runWithBudget(
      [1, 2, 3, 4],
      { concurrency: 1, budget: 10, shouldStop: () => stop },
      async (i) => {
        if (i === 2) {
          stop = true;
          throw new Error("boom");
        }
        return true;
      },
    );
    expect(outcome).toEqual({ started: 2, succeeded: 1, failed: 1, skipped: 2, budgetSpent: false });
  });
});
