/**
 * The Alertmanager hook through `buildApp()` on a real controller with the harness's verifying
 * agents: resolved alerts, alerts lacking a selector's label, several alerts of one delivery sharing
 * one collection, a refused collection consuming its cooldown, a large group.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, tempDir } from "../controller/helpers.js";

let h: Harness;
let am = "";

const POLICY = `environments:
  production: { approvals: 1 }
  staging: { approvals: 0 }
roles:
  collector: { actions: [process-info] }
bindings:
  - { subjects: ["svc:alertmanager"], role: collector, environments: ["*"] }
`;

beforeAll(async () => {
  const dir = await tempDir();
  const rules = join(dir, "rules.yaml");
  await writeFile(
    rules,
    `rules:
  - name: by-app
    match: { alertname: HighMemory }
    action: process-info
    selector: app=\${app}
    environment: staging
  - name: forbidden
    match: { alertname: NeedsEnv }
    action: env
    selector: app=shop
    environment: staging
    cooldown: 1h
`,
  );
  h = await startHarness({
    policy: POLICY,
    environments: ["staging", "production"],
    config: { triggerRules: rules },
  });
  am = await h.token("svc:alertmanager");
});
afterAll(() => h?.close());

const alert = (status: "firing" | "resolved", labels: Record<string, string>, fingerprint: string) => ({
  status,
  labels,
  annotations: {},
  fingerprint,
});
const deliver = (alerts: unknown[]) =>
  h.call(am, "POST", "/v1/hooks/alertmanager", {
    version: "4",
    receiver: "keyhole",
    status: "firing",
    alerts,
  });

describe("POST /v1/hooks/alertmanager", () => {
  it("reports each alert: resolved, a missing label, and one collection for a group", async () => {
    const { status, json } = await deliver([
      alert("resolved", { alertname: "HighMemory", app: "shop" }, "r1"),
      alert("firing", { alertname: "HighMemory" }, "m1"),
      alert("firing", { alertname: "HighMemory", app: "shop", pod: "a" }, "g1"),
      alert("firing", { alertname: "HighMemory", app: "shop", pod: "b" }, "g2"),
    ]);
    expect(status).toBe(200);
    expect(json.alerts.map((a: { outcome: string }) => a.outcome)).toEqual([
      "resolved",
      "refused",
      "collected",
      "collected",
    ]);
    expect(json.alerts[1].message).toContain("needs the alert label(s) app");
    expect(json.collections).toHaveLength(1);
    expect(json.alerts[3].collectionId).toBe(json.collections[0]);
    await h.controller.fleet.collections.whenIdle();
    const { json: view } = await h.call(am, "GET", `/v1/collections/${json.collections[0]}`);
    expect(view.collection).toMatchObject({
      status: "completed",
      subject: "svc:alertmanager",
      selector: "app=shop",
    });
    // The second alert of the group claimed its own cooldown: it does not fire alone later.
    const again = await deliver([alert("firing", { alertname: "HighMemory", app: "shop", pod: "b" }, "g2")]);
    expect(again.json.alerts[0].outcome).toBe("cooldown");
  });

  it("goes through the policy: a refused collection is reported and its cooldown is spent", async () => {
    const first = await deliver([alert("firing", { alertname: "NeedsEnv" }, "e1")]);
    expect(first.json.alerts[0]).toMatchObject({ outcome: "refused", rule: "forbidden" });
    expect(first.json.alerts[0].message).toMatch(/^KH_POLICY_DENIED: /);
    const second = await deliver([alert("firing", { alertname: "NeedsEnv" }, "e1")]);
    expect(second.json.alerts[0].outcome).toBe("cooldown");
    const refused = (await h.controller.store.listAudit()).filter((r) => r.event === "collection.refused");
    expect(refused.at(-1)?.details).toMatchObject({
      code: "KH_POLICY_DENIED",
      trigger: { rule: "forbidden", fingerprint: "e1" },
    });
  });

  it("takes a group larger than the API's usual body limit", async () => {
    const alerts = Array.from({ length: 400 }, (_, i) => ({
      ...alert(
        "firing",
        { alertname: "Unrelated", instance: `10.0.${i >> 8}.${i & 255}:9100`, job: "node" },
        `u${i}`,
      ),
      annotations: {
        description: `node exporter on this instance reports a filesystem almost full ${"·".repeat(120)}`,
      },
    }));
    expect(JSON.stringify(alerts).length).toBeGreaterThan(64 * 1024);
    const { status, json } = await deliver(alerts);
    expect(status).toBe(200);
    expect(json.received).toBe(400);
    expect(json.collections).toEqual([]);
    expect(json.message).toBe("nothing collected from 400 alert(s): 400 no-matching-rule");
  });
});
