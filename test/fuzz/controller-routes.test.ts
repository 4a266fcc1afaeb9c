/**
 * The quick fuzz pass of every controller route (bench/fuzz.ts holds the property; `npm run bench
 * -- fuzz` runs ≥ 10,000 cases): random methods, path params, queries, bodies (deep, duplicate keys,
 * prototype tricks, wrong types, huge numbers) and auth headers against a real controller (SQLite
 * file, real keys) dispatching to real agents on loopback. Never a 5xx; requests stored equal the
 * 201 answers; the agents ran exactly the completed requests; the audit chain verifies.
 */
import { describe, expect, it } from "vitest";
import { describeStats, fuzzController } from "../../bench/fuzz.js";

describe("controller fuzz (quick pass)", () => {
  it("answers every route's random and adversarial input with a coded 4xx, and creates only what it answered 201", async () => {
    const [stats] = await fuzzController(600);
    console.log(describeStats(stats!));
    expect(Object.keys(stats!.statuses).every((status) => Number(status) < 500)).toBe(true);
    // Some valid requests got through and ran, so the property saw both sides.
    expect(stats!.accepted).toBeGreaterThan(3);
  });
});
