/**
 * The quick fuzz pass of the agent (bench/fuzz.ts holds the properties; `npm run bench -- fuzz`
 * runs ≥ 10,000 cases each): random bodies, media types, methods and paths; truncated, re-encoded
 * and tampered envelopes; signed envelopes with adversarial claims and duplicate keys. Every answer
 * is a coded 4xx and a refusal runs no action.
 */
import { describe, expect, it } from "vitest";
import { describeStats, fuzzAgent } from "../../bench/fuzz.js";

describe("agent fuzz (quick pass)", () => {
  it("answers every random or tampered envelope with a coded 4xx and runs nothing on a refusal", async () => {
    const stats = await fuzzAgent(400);
    for (const s of stats) console.log(describeStats(s));
    expect(stats).toHaveLength(3);
    for (const s of stats) {
      expect(Object.keys(s.statuses).every((status) => Number(status) < 500)).toBe(true);
      expect(s.ran).toBe(s.accepted);
    }
    // The tampered envelopes are refused (a lenient base64 variant of the same signature aside).
    const tampered = stats[1]!;
    expect(tampered.accepted).toBeLessThan(tampered.cases / 10);
  });
});
