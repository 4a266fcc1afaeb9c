/**
 * Issue 17: a heap snapshot of a workload that holds no secret is not full of false masks. The
 * sample workload (examples/workload.mjs, as `keyhole demo` runs it but without DEMO_API_KEY and
 * DATABASE_URL) is snapshotted through the agent's own path (the heap-snapshot action, the
 * JsonStringMasker and redactor.maskText, after learning the target's environment and command
 * line): at most 0.1% of its strings may be masked, and none of V8's builtin names
 * (`(CEntry_Return1_ArgvOnStack_NoBuiltinExit builtin code)` was masked as high entropy).
 * `npm run bench -- heap-masking` measures it on a Fastify app too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_MASKED_SHARE, snapshotMasking } from "../../helpers/heap-masking.js";
import { startWorkload, type Workload } from "../../helpers/workload.js";

let workload: Workload;

beforeAll(async () => {
  workload = await startWorkload(
    { NODE_ENV: "production", LOG_LEVEL: "info" },
    { nodeArgs: ["--inspect-port=0"] },
  );
});

afterAll(async () => {
  await workload?.stop();
});

describe("heap-snapshot of a workload holding no secret", () => {
  it("masks at most 0.1% of its strings and no V8 builtin name", async () => {
    const result = await snapshotMasking(workload.pid, true, 20);
    const summary = [...result.byRule].map(
      ([rule, { count, examples }]) => `${rule}: ${count} ${JSON.stringify(examples)}`,
    );
    console.log(`strings ${result.strings}, masked ${result.masked}\n${summary.join("\n")}`);
    // V8 names thousands of builtins: the snapshot has them, so the check below means something.
    expect(result.strings).toBeGreaterThan(10_000);
    expect(result.builtins).toEqual([]);
    expect(result.masked / result.strings).toBeLessThanOrEqual(MAX_MASKED_SHARE);
  }, 20_000);
});
