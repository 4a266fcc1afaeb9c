/**
 * Issue 23 attack, N6: a policy change that lands while the controller starts (between its first
 * read of the file and the watch on its folder) raised no event the watch saw, so it was never
 * loaded: `controller.started` named the old digest and nothing followed. Once the watch is up, the
 * reloader reads the file again and loads it when its digest differs from the policy in force.
 * Real files in a Kubernetes ConfigMap layout (`policy.yaml -> ..data/policy.yaml`, `..data -> ..v1`).
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LivePolicy, PolicyReloader } from "../../../controller/policy/live-policy.js";
import { loadPolicy } from "../../../controller/policy/load-policy.js";
import { openSqliteStore } from "../../../controller/store/sqlite-store.js";
import type { Store } from "../../../controller/store/types.js";
import { TEST_POLICY } from "./helpers.js";

const V2 = TEST_POLICY.replace(
  "production: { approvals: 1, maxTtlSeconds: 120 }",
  "production: { approvals: 2, maxTtlSeconds: 120 }",
);

/** The reloader both tests watch with: the policy at `path`, audited into `store`. */
function reloaderFor(live: LivePolicy, path: string, auditStore: Store | undefined): PolicyReloader {
  return new PolicyReloader({
    live,
    path,
    check: () => [],
    store: auditStore!,
    controllerId: "n6",
    log: pino({ level: "silent" }),
    now: Date.now,
    settleMs: 20,
  });
}

describe("issue 23 attack N6: a policy change during start-up is loaded once the watch starts", () => {
  let dir: string | undefined;
  let store: Store | undefined;
  let reloader: PolicyReloader | undefined;
  afterEach(async () => {
    await reloader?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("issue 23 attack N6: a ConfigMap swapped between the first read and the watch is loaded", async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-n6-"));
    const cm = join(dir, "cm");
    await mkdir(join(cm, "..v1"), { recursive: true });
    await mkdir(join(cm, "..v2"));
    await writeFile(join(cm, "..v1", "policy.yaml"), TEST_POLICY);
    await writeFile(join(cm, "..v2", "policy.yaml"), V2);
    await symlink("..v1", join(cm, "..data"));
    await symlink("..data/policy.yaml", join(cm, "policy.yaml"));
    const path = join(cm, "policy.yaml");

    // Start-up: the first read takes v1 …
    const live = new LivePolicy(await loadPolicy(path));
    expect(live.environments.get("production")?.approvals).toBe(1);
    // … then the kubelet swaps ..data before the watch exists.
    await symlink("..v2", join(cm, "..data_tmp"));
    await rename(join(cm, "..data_tmp"), join(cm, "..data"));

    store = await openSqliteStore(join(dir, "keyhole.db"));
    reloader = reloaderFor(live, path, store);
    reloader.watch();
    const deadline = Date.now() + 5000;
    while (live.environments.get("production")?.approvals !== 2 && Date.now() < deadline) await sleep(20);
    expect(live.environments.get("production")?.approvals).toBe(2);
    const loaded = (await store.listAudit()).filter((r) => r.event === "policy.loaded");
    expect(loaded).toHaveLength(1);
    expect(loaded[0]?.details).toMatchObject({ trigger: "file-change", changed: true });
  });

  it("issue 23 attack N6: an unchanged file at watch start records nothing", async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-n6-"));
    const path = join(dir, "policy.yaml");
    await writeFile(path, TEST_POLICY);
    const live = new LivePolicy(await loadPolicy(path));
    store = await openSqliteStore(join(dir, "keyhole.db"));
    reloader = reloaderFor(live, path, store);
    reloader.watch();
    await reloader.close();
    expect((await store.listAudit()).filter((r) => r.event.startsWith("policy."))).toEqual([]);
  });
});
