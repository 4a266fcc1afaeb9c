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
let rulesFile = "";

const POLICY = `environments:
  production: { approvals: 1 }
  staging: { approvals: 0 }
roles:
  collector: { actions: [process-info] }
bindings:
  - { subjects: ["svc:alertmanager", "svc:intruder"], role: collector, environments: ["*"] }
`;

beforeAll(async () => {
  const dir = await tempDir();
  const rules = join(dir, "rules.yaml");
  rulesFile = rules;
  await writeFile(
    rules,
    `rules:
  - name: by-app
    receivers: [svc:alertmanager]
    match: { alertname: HighMemory }
    action: process-info
    selector: app=\${app}
    environment: staging
  - name: spammable
    receivers: [svc:alertmanager]
    match: { alertname: Spam }
    action: process-info
    selector: app=\${app}
    environment: staging
    cooldown: 1h
  - name: forbidden
    receivers: [svc:alertmanager]
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
const deliver = (alerts: unknown[], as = am) =>
  h.call(as, "POST", "/v1/hooks/alertmanager", {
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
      trigger: { rule: "forbidden", fingerprint: first.json.alerts[0].fingerprint },
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

  it("finding 7: a new fingerprint per POST does not file a new collection; the cooldown key is the controller's", async () => {
    const spam = (fingerprint: string, extra: Record<string, string> = {}) =>
      deliver([alert("firing", { alertname: "Spam", app: "shop", ...extra }, fingerprint)]);
    const first = await spam("f-0");
    expect(first.json.collections).toHaveLength(1);
    // The review's attack: the same alert with a fresh fingerprint each time. Labels the rule does not
    // use (a pod, a nonce) do not make a new key either.
    const extras: Record<string, string>[] = [{}, { pod: "x" }, { nonce: "1" }, { nonce: "2" }];
    for (const [i, extra] of extras.entries()) {
      const again = await spam(`f-${i + 1}`, extra);
      expect(again.status).toBe(200);
      expect(again.json.collections).toEqual([]);
      expect(again.json.alerts[0]).toMatchObject({ outcome: "cooldown", rule: "spammable" });
    }
    const filed = (await h.controller.store.listAudit()).filter(
      (r) =>
        r.event === "collection.created" && (r.details.trigger as { rule?: string })?.rule === "spammable",
    );
    expect(filed).toHaveLength(1);
  });

  it("finding 7: only the receivers a rule names may fire it", async () => {
    const intruder = await h.token("svc:intruder");
    const before = (await h.controller.store.listAudit()).filter((r) => r.event === "collection.created");
    const { status, json } = await deliver(
      [alert("firing", { alertname: "HighMemory", app: "shop" }, "i-1")],
      intruder,
    );
    expect([status, json.error?.code]).toEqual([403, "KH_POLICY_DENIED"]);
    const after = (await h.controller.store.listAudit()).filter((r) => r.event === "collection.created");
    expect(after).toHaveLength(before.length);
    expect((await h.controller.store.listAudit()).at(-1)).toMatchObject({
      event: "trigger.refused",
      actor: "svc:intruder",
    });
  });

  it("finding 7: the hook is rate limited per subject like any request", async () => {
    const limited = await startHarness({
      policy: POLICY,
      environments: ["staging"],
      config: { triggerRules: rulesFile, rateLimitPerMinute: 2 },
    });
    try {
      const token = await limited.token("svc:alertmanager");
      const post = () =>
        limited.call(token, "POST", "/v1/hooks/alertmanager", {
          alerts: [alert("firing", { alertname: "Unrelated" }, "x")],
        });
      expect((await post()).status).toBe(200);
      expect((await post()).status).toBe(200);
      const third = await post();
      expect([third.status, third.json.error?.code]).toEqual([429, "KH_RATE_LIMITED"]);
    } finally {
      await limited.close();
    }
  });
});
