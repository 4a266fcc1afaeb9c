import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EnvResult, envAction } from "../../../../agent/actions/env.js";
import { FAKE_API_KEY, FAKE_DB_PASSWORD, startWorkload, type Workload } from "../proc/workload-child.js";
import { actionContext } from "./context.js";

describe("env against a real workload", () => {
  let workload: Workload;
  beforeAll(async () => {
    workload = await startWorkload();
  });
  afterAll(async () => {
    await workload.stop();
  });

  it("shows every name, masks the fake secrets and keeps plain values", async () => {
    const ctx = actionContext(workload.pid);
    const result = (await envAction.run({}, ctx)) as EnvResult;
    const json = JSON.stringify(result);
    expect(json).not.toContain(FAKE_API_KEY);
    expect(json).not.toContain(FAKE_DB_PASSWORD);

    expect(result.pid).toBe(workload.pid);
    expect(result.variables.map((v) => v.name)).toEqual([
      "PATH",
      "NODE_ENV",
      "PORT",
      "DEMO_API_KEY",
      "DATABASE_URL",
    ]);
    const byName = Object.fromEntries(result.variables.map((v) => [v.name, v]));
    expect(byName.NODE_ENV).toEqual({ name: "NODE_ENV", value: "production", masked: false });
    expect(byName.PORT).toEqual({ name: "PORT", value: "0", masked: false });
    expect(byName.DEMO_API_KEY).toEqual({
      name: "DEMO_API_KEY",
      value: `⟦masked:secret-name:${ctx.redactor.fingerprint(FAKE_API_KEY)}⟧`,
      masked: true,
      rule: "secret-name",
      fingerprint: ctx.redactor.fingerprint(FAKE_API_KEY),
    });
    expect(byName.DATABASE_URL?.value).toBe(
      `postgres://app:⟦masked:url-credentials:${ctx.redactor.fingerprint(FAKE_DB_PASSWORD)}⟧@db:5432/app`,
    );
    expect(byName.DATABASE_URL?.fingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(result.maskedCount).toBe(2);
  });

  it("remembers what it masked, so it is masked when it reappears elsewhere", async () => {
    const ctx = actionContext(workload.pid);
    await envAction.run({}, ctx);
    expect(ctx.redactor.maskText(`started with ${FAKE_API_KEY}`)).toBe(
      `started with ⟦masked:known-value:${ctx.redactor.fingerprint(FAKE_API_KEY)}⟧`,
    );
    expect(ctx.redactor.maskText(`pw ${FAKE_DB_PASSWORD}`)).not.toContain(FAKE_DB_PASSWORD);
  });

  it("takes no params", () => {
    expect(envAction.params.safeParse({}).success).toBe(true);
    expect(envAction.params.safeParse({ all: true }).success).toBe(false);
  });

  it("stops when its signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new Error("client went away"));
    await expect(
      envAction.run({}, actionContext(workload.pid, { signal: controller.signal })),
    ).rejects.toThrow("client went away");
  });

  it("fails with KH_TARGET_NOT_FOUND once the target is gone", async () => {
    const gone = await startWorkload();
    await gone.stop();
    await expect(envAction.run({}, actionContext(gone.pid))).rejects.toMatchObject({
      code: "KH_TARGET_NOT_FOUND",
    });
  });
});
