/**
 * Issue 23, finding 8: a policy file read mid-write could load with `approvals: 0`. A prefix of the
 * file that ends right after `production:` is valid YAML, and an environment without a body took
 * every default, whose approvals were 0: production requests ran with no approval. A real controller
 * (real SQLite, real policy file, real reloads), fake agents on loopback counting envelopes.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { parsePolicy } from "../../../controller/policy/load-policy.js";
import { captureLog } from "../../helpers/capture-log.js";
import { type Harness, startHarness, TEST_POLICY } from "./helpers.js";

/** TEST_POLICY's rules with production written last, as the reviewed file had it. */
const PRODUCTION_LAST = `roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support", "user:carol@example.com"], role: support, environments: [staging, production] }
environments:
  staging: { approvals: 0, maxTtlSeconds: 60 }
  restricted: { approvals: 2, pendingTtlSeconds: 600 }
  production: { approvals: 1, maxTtlSeconds: 120 }
`;
/** That file as an editor writing it in place leaves it for a moment: cut right after `production:`. */
const CUT_AFTER_PRODUCTION = PRODUCTION_LAST.slice(
  0,
  PRODUCTION_LAST.indexOf("production:") + "production:".length,
);

describe("issue 23 finding 8: a policy file read mid-write never loads with approvals 0", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("a file cut after `production:` is rejected with a clear reason; production still needs its approval", async () => {
    h = await startHarness({ policy: PRODUCTION_LAST, runtime: { watchPolicy: false } });
    const before = h.controller.policy.digest;
    expect(CUT_AFTER_PRODUCTION.endsWith("\n  production:")).toBe(true);
    await writeFile(join(h.dir, "policy.yaml"), CUT_AFTER_PRODUCTION);

    const outcome = await h.controller.reloadPolicy("sighup");
    expect(outcome?.kind).toBe("rejected");
    expect(outcome?.kind === "rejected" && outcome.problems).toEqual([
      expect.stringMatching(
        /policy\.yaml:\d+:\d+ environments\.production: has no settings: give at least its approvals/,
      ),
    ]);
    expect(h.controller.policy.digest).toBe(before);
    expect(h.controller.policy.environments.get("production")?.approvals).toBe(1);

    const bob = await h.token("user:bob@example.com", ["sre"]);
    const created = await h.call(bob, "POST", "/v1/requests", {
      action: "process-info",
      target: "production/shop/shop-0",
      reason: "after a torn policy write",
    });
    expect(created.json.request?.status).toBe("pending");
    await h.controller.dispatcher.whenIdle();
    expect(h.agents.production!.received).toHaveLength(0);
    const rejected = (await h.controller.store.listAudit()).filter((r) => r.event === "policy.rejected");
    expect(rejected).toHaveLength(1);
  });

  it("an environment without `approvals` is an error that says what to write, at start as at reload", () => {
    const problems = (text: string) => {
      try {
        parsePolicy(text, "policy.yaml");
        return [];
      } catch (err) {
        return (err as { problems: string[] }).problems;
      }
    };
    expect(problems("environments:\n  production:\n")).toEqual([
      expect.stringMatching(/^policy\.yaml:2:\d+ environments\.production: has no settings/),
    ]);
    expect(problems("environments:\n  production: {}\n")).toEqual([
      expect.stringMatching(
        /^policy\.yaml:2:\d+ environments\.production\.approvals: is required: the number of approvals each request here needs \(0 for none, written out\)/,
      ),
    ]);
    expect(problems("environments:\n  staging: { maxTtlSeconds: 60 }\n")[0]).toMatch(
      /environments\.staging\.approvals: is required/,
    );
    expect(problems("environments:\n  staging: { approvals: 0 }\n")).toEqual([]);
  });

  it("a file written in place while the reload reads it is taken only once it stops changing", async () => {
    h = await startHarness({ runtime: { watchPolicy: false } });
    const path = join(h.dir, "policy.yaml");
    const raised = TEST_POLICY.replace("production: { approvals: 1,", "production: { approvals: 2,");
    await writeFile(path, raised.slice(0, raised.indexOf("production:") + "production:".length));
    const reload = h.controller.reloadPolicy("sighup");
    // The rest arrives while the reload waits for the text to settle.
    await sleep(50);
    await writeFile(path, raised);
    const outcome = await reload;
    expect(outcome?.kind).toBe("loaded");
    expect(h.controller.policy.environments.get("production")?.approvals).toBe(2);
  });

  it("a reload that lowers an environment's approvals is logged at error level and audited", async () => {
    const log = captureLog();
    h = await startHarness({ runtime: { watchPolicy: false, logger: log.logger } });
    await writeFile(
      join(h.dir, "policy.yaml"),
      TEST_POLICY.replace("production: { approvals: 1,", "production: { approvals: 0,"),
    );
    expect(await h.controller.reloadPolicy("sighup")).toMatchObject({ kind: "loaded" });
    const loud = log.lines().find((l) => l.level === 50 && /LOWERS required approvals/.test(l.msg));
    expect(loud?.msg).toContain("production 1 → 0");
    const loaded = (await h.controller.store.listAudit()).find((r) => r.event === "policy.loaded");
    expect(loaded?.details.approvalsLowered).toEqual([{ environment: "production", from: 1, to: 0 }]);
  });
});
