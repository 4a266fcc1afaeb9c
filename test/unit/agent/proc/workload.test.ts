import { describe, expect, it } from "vitest";
import { startWorkload } from "./workload-child.js";

describe("examples/workload.mjs", () => {
  it("serves HTTP on the port it announced and exits 0 on SIGTERM", async () => {
    const workload = await startWorkload();
    const response = await fetch(`http://127.0.0.1:${workload.port}/`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ service: "workload", orders: 2000, apiKeyPresent: true });
    // It never echoes its secrets.
    expect(JSON.stringify(body)).not.toMatch(/demo-|s3cr3t/);
    expect(await workload.stop()).toBe(0);
  });
});
