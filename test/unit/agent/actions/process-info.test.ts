import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProcessInfoResult, processInfoAction } from "../../../../agent/actions/process-info.js";
import { learnTargetSecrets } from "../../../../agent/learn-target.js";
import {
  FAKE_API_KEY,
  FAKE_DATABASE_URL,
  FAKE_DB_PASSWORD,
  startWorkload,
  WORKLOAD,
  type Workload,
} from "../proc/workload-child.js";
import { actionContext } from "./context.js";

describe("process-info against a real workload", () => {
  let workload: Workload;
  beforeAll(async () => {
    // Secrets on the command line too: a flag, a URL, and the env's API key passed positionally.
    workload = await startWorkload({
      args: ["--db", FAKE_DATABASE_URL, "--api-token=abc123def456", FAKE_API_KEY],
    });
  });
  afterAll(async () => {
    await workload.stop();
  });

  it("reports the facts with a masked command line", async () => {
    const ctx = actionContext(workload.pid);
    // What the request path does before every action (test/integration/agent/first-action.test.ts).
    learnTargetSecrets(ctx);
    const result = (await processInfoAction.run({}, ctx)) as ProcessInfoResult;
    const json = JSON.stringify(result);
    expect(json).not.toContain(FAKE_DB_PASSWORD);
    expect(json).not.toContain("abc123def456");
    // Known from the target's environment, although nothing on the command line says it is secret.
    expect(json).not.toContain(FAKE_API_KEY);

    expect(result.pid).toBe(workload.pid);
    expect(result.cmdline.slice(0, 3)).toEqual([process.execPath, WORKLOAD, "--db"]);
    expect(result.cmdline[3]).toMatch(
      /^postgres:\/\/app:⟦masked:url-credentials:[0-9a-f]{12}⟧@db:5432\/app$/,
    );
    expect(result.cmdline[4]).toMatch(/^--api-token=⟦masked:secret-flag:[0-9a-f]{12}⟧$/);
    expect(result.cmdline[5]).toBe(`⟦masked:known-value:${ctx.redactor.fingerprint(FAKE_API_KEY)}⟧`);
    expect(result.threads).toBeGreaterThan(1);
    expect(result.openFds).toBeGreaterThan(2);
    expect(result.rssBytes).toBeGreaterThan(0);
    expect(result.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect([1, 2, null]).toContain(result.cgroup.version);
  });

  it("reads cgroup memory from the configured roots", async () => {
    const ctx = actionContext(workload.pid, { cgroupRoot: "/nonexistent" });
    const result = (await processInfoAction.run({}, ctx)) as ProcessInfoResult;
    expect(result.cgroup.memoryLimitBytes).toBeNull();
    expect(result.cgroup.note).toMatch(/cannot read/);
  });

  it("declares its limits and takes no params", () => {
    expect(processInfoAction.name).toBe("process-info");
    expect(processInfoAction.limits.timeoutMs).toBeGreaterThan(0);
    expect(processInfoAction.limits.maxConcurrency).toBeGreaterThan(0);
    expect(processInfoAction.limits.maxOutputBytes).toBeGreaterThan(0);
    expect(processInfoAction.params.safeParse({ verbose: true }).success).toBe(false);
  });

  it("fails with KH_TARGET_NOT_FOUND once the target is gone", async () => {
    const gone = await startWorkload();
    await gone.stop();
    await expect(processInfoAction.run({}, actionContext(gone.pid))).rejects.toMatchObject({
      code: "KH_TARGET_NOT_FOUND",
    });
  });
});
