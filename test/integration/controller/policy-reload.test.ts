import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../../controller/audit/chain.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { runController } from "../../../controller/main.js";
import { captureLog } from "../../helpers/capture-log.js";
import { type Harness, startHarness, TEST_POLICY, tempDir } from "./helpers.js";

/** TEST_POLICY, with the support role also allowed `env`. */
const WIDER_POLICY = TEST_POLICY.replace(
  "support: { actions: [process-info] }",
  "support: { actions: [process-info, env] }",
);

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("policy reload", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const policyEvent =
    (event: "policy.loaded" | "policy.rejected") => async (): Promise<AuditRecord | undefined> =>
      (await h!.controller.store.listAudit()).find((r) => r.event === event);

  it("takes a changed file on its own (watched, debounced) and audits it with the file's SHA-256", async () => {
    h = await startHarness();
    const carol = await h.token("user:carol@example.com", ["support"]);
    const ask = () =>
      h!.call(carol, "POST", "/v1/requests", {
        action: "env",
        target: "staging/shop/shop-0",
        reason: "reload check",
      });
    expect((await ask()).json.error.code).toBe("KH_POLICY_DENIED");
    const before = h.controller.policy.digest;

    await writeFile(join(h.dir, "policy.yaml"), WIDER_POLICY);
    const loaded = await until(policyEvent("policy.loaded"), "policy.loaded");
    expect(loaded.details).toMatchObject({ trigger: "file-change", previousDigest: before, changed: true });
    expect(loaded.details.digest).toBe(h.controller.policy.digest);
    expect(loaded.details.digest).not.toBe(before);
    expect((await ask()).status).toBe(201);
    // One write, one reload: the debounce folds the watcher's bursts.
    await sleep(600);
    expect((await h.controller.store.listAudit()).filter((r) => r.event === "policy.loaded")).toHaveLength(1);
  });

  it("keeps the old policy when the new file has errors, and records why with file:line:col", async () => {
    h = await startHarness();
    const before = h.controller.policy.digest;
    const broken = WIDER_POLICY.replace("role: support", "role: suport");
    await writeFile(join(h.dir, "policy.yaml"), broken);
    const rejected = await until(policyEvent("policy.rejected"), "policy.rejected");
    expect(rejected.details).toMatchObject({ trigger: "file-change", keptDigest: before });
    expect(rejected.details.problems).toEqual([
      expect.stringMatching(/policy\.yaml:\d+:\d+ bindings\[1\]\.role: unknown role "suport"/),
    ]);
    expect(h.controller.policy.digest).toBe(before);
    const carol = await h.token("user:carol@example.com", ["support"]);
    const refused = await h.call(carol, "POST", "/v1/requests", {
      action: "env",
      target: "staging/shop/shop-0",
      reason: "still the old policy",
    });
    expect(refused.json.error.code).toBe("KH_POLICY_DENIED");
  });

  it("refuses a valid file this controller cannot use: an environment its agents need, or one without a key", async () => {
    h = await startHarness();
    const before = h.controller.policy.digest;
    const policyPath = join(h.dir, "policy.yaml");
    await writeFile(
      policyPath,
      TEST_POLICY.replace("  restricted: { approvals: 2, pendingTtlSeconds: 600 }\n", ""),
    );
    const outcome = await h.controller.reloadPolicy();
    expect(outcome).toMatchObject({ kind: "rejected" });
    expect(outcome?.kind === "rejected" && outcome.problems).toEqual([
      'environment "restricted" is removed, but agent restricted/shop/shop-0 in the inventory is in it',
    ]);
    await writeFile(
      policyPath,
      `${TEST_POLICY.replace("environments:\n", "environments:\n  qa: { approvals: 0 }\n")}`,
    );
    const second = await h.controller.reloadPolicy();
    expect(second?.kind === "rejected" && second.problems).toEqual([
      'environment "qa" is new and has no signing key: restart the controller to add it',
    ]);
    expect(h.controller.policy.digest).toBe(before);
  });

  it("reloads on SIGHUP in the running controller", async () => {
    const dir = await tempDir();
    const policy = join(dir, "policy.yaml");
    const inventory = join(dir, "inventory.yaml");
    await writeFile(policy, TEST_POLICY);
    await writeFile(
      inventory,
      '- { id: staging/shop/shop-0, environment: staging, url: "http://127.0.0.1:9" }\n',
    );
    const log = captureLog();
    const running = await runController(
      { dataDir: join(dir, "data"), policy, inventory, listen: "127.0.0.1:0" },
      {},
      { handleSignals: true, logDestination: log.destination },
    );
    try {
      const { token } = await issueToken({ dataDir: join(dir, "data"), subject: "user:dana@example.com" });
      const explainCarol = async () => {
        const response = await fetch(
          `${running.url}/v1/policy/explain?subject=user:carol@example.com&groups=support&action=env&target=staging/shop/shop-0`,
          { headers: { authorization: `Bearer ${token}` } },
        );
        return ((await response.json()) as { explanation: { allowed: boolean } }).explanation.allowed;
      };
      expect(await explainCarol()).toBe(false);
      await writeFile(policy, WIDER_POLICY);
      process.kill(process.pid, "SIGHUP");
      await until(
        async () => log.lines().find((l) => l.msg === "policy loaded" && l.trigger === "sighup"),
        "the SIGHUP reload",
      );
      expect(await explainCarol()).toBe(true);
    } finally {
      await running.close();
    }
  });
});
