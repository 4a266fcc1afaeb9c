/**
 * The fleet with real parts: a controller on loopback (real SQLite, real keys), 24 real `keyhole
 * agent` processes enrolling themselves with labels against real workload processes, one agent from
 * the inventory file beside them, and the `keyhole` CLI driving it. Heartbeats are 1 s and an agent
 * is offline after 2 s, so offline detection takes seconds.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadControllerConfig } from "../../../controller/config.js";
import { issueEnrollToken, revokeEnrollToken } from "../../../controller/fleet/cli.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { type ControllerRuntime, createController } from "../../../controller/runtime.js";
import {
  type AgentFlags,
  agentArgs,
  freePort,
  LOOPBACK_NETWORKS,
  Stack,
  type Workload,
} from "../../helpers/stack.js";

const POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120 }
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
  collector: { actions: [process-info, env] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["svc:alertmanager"], role: collector, environments: [staging, production] }
`;

const RULES = `rules:
  - name: payments-memory
    receivers: [svc:alertmanager]
    match: { alertname: HighMemory, team: payments }
    action: process-info
    selector: app=\${app},shard=\${shard}
    environment: staging
    maxConcurrency: 4
    cooldown: 10m
`;

/** Agents whose target is a process that no longer exists: they answer KH_TARGET_NOT_FOUND. */
const DEAD = 5;
const STAGING = 20;

const stack = new Stack("fleet");
let controller: ControllerRuntime;
let url = "";
let stagingToken = "";
let stagingTokenId = "";
let productionToken = "";
const workloads: Workload[] = [];
const tokens: Record<string, string> = {};
let deadPid = 0;
let staticPort = 0;

const stateDir = (name: string) => stack.path("state", name.replace(/\//g, "_"));

/** An agent trusting the controller's key of its environment; with a token, it enrolls with the controller. */
function fleetAgent(o: {
  id: string;
  environment: string;
  target: number;
  labels: string[];
  enroll?: string;
}): AgentFlags {
  return {
    id: o.id,
    environment: o.environment,
    trustedKeys: stack.path("data", "keys", o.environment, "jwks.json"),
    target: o.target,
    labels: o.labels,
    ...(o.enroll ? { controller: url, enrollToken: o.enroll } : {}),
  };
}

function startAgent(o: Parameters<typeof fleetAgent>[0]) {
  return stack.startAgent({
    ...fleetAgent(o),
    env: { KEYHOLE_STATE_DIR: stateDir(o.id) },
    timeoutMs: 60_000,
  });
}

async function call(who: string, method: "GET" | "POST", path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
  return { status: response.status, json: (await response.json()) as any };
}

const as = (who: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  KEYHOLE_URL: url,
  KEYHOLE_TOKEN: tokens[who],
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function finished(id: string) {
  return waitFor(
    `collection ${id}`,
    async () => {
      const { json } = await call("alice", "GET", `/v1/collections/${id}`);
      return ["completed", "stopped", "denied", "expired"].includes(json.collection.status)
        ? json.collection
        : undefined;
    },
    60_000,
  );
}

beforeAll(async () => {
  const dataDir = stack.path("data");
  staticPort = await freePort();
  const inventory = stack.write(
    "inventory.yaml",
    `- { id: staging/payments/static-0, environment: staging, url: "http://127.0.0.1:${staticPort}", labels: { app: payments, shard: "1", source: file } }\n`,
  );
  const config = loadControllerConfig(
    {
      dataDir,
      policy: stack.write("policy.yaml", POLICY),
      inventory,
      triggerRules: stack.write("rules.yaml", RULES),
      listen: "127.0.0.1:0",
      heartbeatSeconds: 1,
      offlineAfterSeconds: 2,
      rateLimitPerMinute: 0,
      // The agents enroll from loopback: each environment's allow-list names it (issue 23, finding 4).
      agentNetworks: ["staging", "production"].map((e) => `${e}=${LOOPBACK_NETWORKS}`),
    },
    {},
  );
  controller = await createController(config, { watchPolicy: false });
  stack.onStop(() => controller.close());
  url = await controller.app.listen({ host: "127.0.0.1", port: 0 });

  for (const [name, subject, groups] of [
    ["alice", "user:alice@example.com", ["sre"]],
    ["bob", "user:bob@example.com", ["sre"]],
    ["alertmanager", "svc:alertmanager", []],
  ] as const) {
    tokens[name] = (await issueToken({ dataDir, subject, groups: [...groups] })).token;
  }
  const staging = await issueEnrollToken({ dataDir, environment: "staging" });
  stagingToken = staging.token;
  stagingTokenId = staging.id;
  productionToken = (await issueEnrollToken({ dataDir, environment: "production" })).token;

  // Small real workloads, started in parallel; one more that is gone before any agent looks at it.
  workloads.push(...(await Promise.all([stack.startWorkload(), stack.startWorkload()])));
  const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  deadPid = gone.pid!;
  await once(gone, "exit");

  // Every agent process at once: start-up time is the slowest one's, not the sum.
  await Promise.all([
    ...Array.from({ length: STAGING }, (_, i) =>
      startAgent({
        id: `staging/payments/p-${String(i).padStart(2, "0")}`,
        environment: "staging",
        target: i < DEAD ? deadPid : workloads[i % 2]!.pid,
        labels: ["app=payments", `shard=${i % 2}`],
        enroll: stagingToken,
      }),
    ),
    ...Array.from({ length: 2 }, (_, i) =>
      startAgent({
        id: `staging/orders/o-${i}`,
        environment: "staging",
        target: workloads[0]!.pid,
        labels: ["app=orders"],
        enroll: stagingToken,
      }),
    ),
    ...Array.from({ length: 2 }, (_, i) =>
      startAgent({
        id: `production/payments/q-${i}`,
        environment: "production",
        target: workloads[1]!.pid,
        labels: ["app=payments"],
        enroll: productionToken,
      }),
    ),
    // The inventory file's agent: no enrollment, reached at the URL the file names.
    stack.startAgent({
      ...fleetAgent({
        id: "staging/payments/static-0",
        environment: "staging",
        target: workloads[0]!.pid,
        labels: [],
      }),
      listen: `127.0.0.1:${staticPort}`,
      name: "static-0",
      env: { KEYHOLE_STATE_DIR: stateDir("static") },
      timeoutMs: 60_000,
    }),
  ]);
}, 120_000);

afterAll(() => stack.stop(2000), 60_000);

describe("enrollment and heartbeats", () => {
  it("lists enrolled agents with their labels beside the inventory file's, through the CLI", async () => {
    const result = await stack.keyhole(
      ["agents", "--selector", "app=payments", "--json"],
      as("alice"),
      30_000,
    );
    expect(result.code, result.stderr).toBe(0);
    const { agents } = JSON.parse(result.stdout);
    const ids = agents.map((a: { id: string }) => a.id);
    expect(ids).toHaveLength(STAGING + 2 + 1);
    expect(ids).toContain("staging/payments/static-0");
    expect(ids).not.toContain("staging/orders/o-0");
    const p7 = agents.find((a: { id: string }) => a.id === "staging/payments/p-07");
    expect(p7).toMatchObject({
      environment: "staging",
      source: "enrolled",
      state: "online",
      labels: { app: "payments", shard: "1" },
    });
    expect(p7.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(p7.actions).toContain("process-info");
    const fromFile = agents.find((a: { id: string }) => a.id === "staging/payments/static-0");
    expect(fromFile).toMatchObject({ source: "static", state: "static", labels: { source: "file" } });

    const table = await stack.keyhole(["agents", "--selector", "app=orders"], as("alice"), 30_000);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/staging\/orders\/o-0\s+staging\s+online\s+app=orders/);
  });

  it("audits each enrollment and refuses an agent outside its token's environment, which exits 2", async () => {
    const audit = await controller.store.listAudit();
    const enrolled = audit.filter((r) => r.event === "agent.enrolled");
    expect(enrolled.length).toBeGreaterThanOrEqual(STAGING + 4);
    expect(enrolled.find((r) => r.details.agent === "staging/payments/p-03")?.details).toMatchObject({
      environment: "staging",
      labels: { app: "payments", shard: "1" },
    });

    const sneaky = await stack.keyhole(
      agentArgs(
        fleetAgent({
          id: "production/payments/sneaky",
          environment: "production",
          target: workloads[0]!.pid,
          labels: ["app=payments"],
          enroll: stagingToken,
        }),
      ),
      { KEYHOLE_STATE_DIR: stateDir("sneaky") },
    );
    expect(sneaky.code).toBe(2);
    expect(sneaky.stderr).toContain("KH_ENROLL_DENIED");
    const refused = (await controller.store.listAudit()).filter((r) => r.event === "agent.refused");
    expect(refused.at(-1)?.details).toMatchObject({
      agent: "production/payments/sneaky",
      environment: "production",
      tokenEnvironment: "staging",
      code: "KH_ENROLL_DENIED",
    });
    const { json } = await call("alice", "GET", "/v1/agents?selector=app=payments&environment=production");
    expect(json.agents.map((a: { id: string }) => a.id)).not.toContain("production/payments/sneaky");
  });

  it("shows an agent that stops beating as offline and leaves it out of collections", async () => {
    const agent = stack.agent("staging/orders/o-1");
    await agent.stop(2000);
    await waitFor("o-1 offline", async () => {
      const { json } = await call("alice", "GET", "/v1/agents?selector=app=orders");
      return json.agents.find(
        (a: { id: string; state: string }) => a.id === "staging/orders/o-1" && a.state === "offline",
      );
    });
    const { json: online } = await call("alice", "GET", "/v1/agents?selector=app=orders&state=online");
    expect(online.agents.map((a: { id: string }) => a.id)).toEqual(["staging/orders/o-0"]);
    const { status, json } = await call("alice", "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=orders",
      reason: "test: offline agents are no targets",
    });
    expect(status).toBe(201);
    expect(json.collection.targets.map((t: { target: string }) => t.target)).toEqual(["staging/orders/o-0"]);
    const done = await finished(json.collection.id);
    expect(done.summary).toMatchObject({ targets: 1, succeeded: 1, failed: 0, skipped: 0 });
  });
});

describe("collections", () => {
  it("stops starting targets once the error budget is spent, and reports per target", async () => {
    // Targets run in id order, so the five dead ones come first: with 4 in flight and a budget of
    // 2, the third failure stops new starts; the ones in flight finish and count.
    const { status, json } = await call("alice", "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=payments",
      environment: "staging",
      reason: "test: error budget",
      maxConcurrency: 4,
      maxErrors: "2",
    });
    expect(status, JSON.stringify(json)).toBe(201);
    expect(json.collection).toMatchObject({
      status: "approved",
      maxConcurrency: 4,
      errorBudget: 2,
      maxErrors: "2",
    });
    expect(json.collection.targets).toHaveLength(STAGING + 1);
    const done = await finished(json.collection.id);
    expect(done.status).toBe("stopped");
    const { succeeded, failed, skipped, budgetSpent } = done.summary;
    expect(budgetSpent).toBe(true);
    expect(failed).toBeGreaterThan(2);
    expect(succeeded + failed).toBeLessThanOrEqual(2 + 4);
    expect(skipped).toBe(STAGING + 1 - succeeded - failed);
    const started = done.targets.filter((t: { status: string }) => t.status !== "skipped");
    for (const t of started) {
      expect(t.target).toMatch(/^staging\/payments\/p-0[0-5]$/);
      if (t.status === "failed") expect(t.error.code).toBe("KH_TARGET_NOT_FOUND");
    }
    const audit = await controller.store.listAudit();
    const finishedRecord = audit.find(
      (r) => r.event === "collection.finished" && r.details.collectionId === done.id,
    );
    expect(finishedRecord?.details).toMatchObject({ status: "stopped", budgetSpent: true, errorBudget: 2 });
  });

  it("runs every target without a budget: partial failure is a result, through `keyhole run --selector`", async () => {
    const out = stack.path("results.json");
    const result = await stack.keyhole(
      [
        "run",
        "process-info",
        "--selector",
        "app=payments",
        "--environment",
        "staging",
        "--max-concurrency",
        "8",
        "--reason",
        "test: whole fleet",
        "--wait",
        "--out",
        out,
        "--json",
      ],
      as("alice"),
      90_000,
    );
    // Some targets failed: the command says so in one line and exits 1, with every result printed.
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/16 succeeded, 5 failed, 0 skipped/);
    const { collection } = JSON.parse(result.stdout);
    expect(collection.status).toBe("completed");
    expect(collection.summary).toMatchObject({ targets: 21, succeeded: 16, failed: 5, skipped: 0 });
    for (const t of collection.targets) {
      if (t.status === "completed") {
        expect(t.result.agent).toBe(t.target); // answered by the agent the envelope was bound to
        expect(t.result.result.pid).toBeGreaterThan(0);
      }
    }
    // Each target's envelope was bound to that target: its own jti, its own audience.
    const audit = await controller.store.listAudit();
    const dispatched = audit.filter(
      (r) => r.event === "request.dispatched" && r.details.collectionId === collection.id,
    );
    expect(dispatched).toHaveLength(21);
    expect(new Set(dispatched.map((r) => r.details.jti)).size).toBe(21);
    const request = await controller.store.getRequest(collection.targets[7].requestId);
    expect(request).toMatchObject({ target: collection.targets[7].target, status: "completed" });
  });

  it("freezes the target list for the approver: one approval covers exactly what was shown", async () => {
    const { json } = await call("alice", "POST", "/v1/collections", {
      action: "env",
      selector: "app=payments",
      environment: "production",
      reason: "test: approval covers the list",
    });
    const id = json.collection.id;
    expect(json.collection).toMatchObject({ status: "pending", approvalsRequired: 1 });
    expect(json.collection.targets.map((t: { target: string }) => t.target)).toEqual([
      "production/payments/q-0",
      "production/payments/q-1",
    ]);
    // An agent enrolling now is not added.
    await startAgent({
      id: "production/payments/q-late",
      environment: "production",
      target: workloads[1]!.pid,
      labels: ["app=payments"],
      enroll: productionToken,
    });
    expect((await call("alice", "POST", `/v1/collections/${id}/approve`, {})).json.error.code).toBe(
      "KH_SELF_APPROVAL",
    );
    const stale = await call("bob", "POST", `/v1/collections/${id}/approve`, {
      targetsDigest: "0".repeat(64),
    });
    expect(stale.json.error.code).toBe("KH_TARGETS_CHANGED");
    // The CLI shows bob the list and approves its digest.
    const approved = await stack.keyhole(["approve", id, "--note", "looked at both"], as("bob"), 30_000);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stderr).toContain("production/payments/q-1");
    const done = await finished(id);
    expect(done.status).toBe("completed");
    expect(done.targets.map((t: { target: string }) => t.target)).toEqual([
      "production/payments/q-0",
      "production/payments/q-1",
    ]);
    for (const t of done.targets) {
      const request = await controller.store.getRequest(t.requestId);
      expect(request?.approvals.map((a) => a.subject)).toEqual(["user:bob@example.com"]);
    }
  });
});

describe("alert triggers", () => {
  const payload = (labels: Record<string, string>, fingerprint: string) => ({
    version: "4",
    groupKey: '{}:{alertname="HighMemory"}',
    receiver: "keyhole",
    status: "firing",
    alerts: [
      {
        status: "firing",
        labels,
        annotations: { summary: "RSS above 90%" },
        fingerprint,
        startsAt: new Date().toISOString(),
      },
    ],
  });

  it("collects once for an alert that fires twice within the cooldown", async () => {
    const body = payload(
      { alertname: "HighMemory", team: "payments", app: "payments", shard: "1" },
      "a1b2c3d4e5f60718",
    );
    const first = await call("alertmanager", "POST", "/v1/hooks/alertmanager", body);
    expect(first.status).toBe(200);
    expect(first.json.collections).toHaveLength(1);
    expect(first.json.alerts[0]).toMatchObject({ outcome: "collected", rule: "payments-memory" });
    const second = await call("alertmanager", "POST", "/v1/hooks/alertmanager", body);
    expect(second.status).toBe(200);
    expect(second.json.collections).toEqual([]);
    expect(second.json.alerts[0]).toMatchObject({ outcome: "cooldown", rule: "payments-memory" });

    // The controller's fingerprint of the alert's labels, not the one the caller sent.
    const fingerprint = first.json.alerts[0].fingerprint as string;
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint).not.toBe("a1b2c3d4e5f60718");
    const collection = await finished(first.json.collections[0]);
    expect(collection).toMatchObject({
      subject: "svc:alertmanager",
      selector: "app=payments,shard=1",
      trigger: { rule: "payments-memory", fingerprint, alertname: "HighMemory" },
    });
    expect(collection.reason).toContain("RSS above 90%");
    const triggered = (await call("alice", "GET", "/v1/collections?limit=100")).json.collections.filter(
      (c: { trigger?: { fingerprint: string } }) => c.trigger?.fingerprint === fingerprint,
    );
    expect(triggered).toHaveLength(1);
    const audit = await controller.store.listAudit();
    expect(
      audit.filter((r) => r.event === "trigger.fired" && r.details.fingerprint === fingerprint),
    ).toHaveLength(1);
    expect(
      audit.filter((r) => r.event === "trigger.suppressed" && r.details.fingerprint === fingerprint),
    ).toHaveLength(1);
  });

  it("does nothing for an alert with unknown labels, and says so", async () => {
    const before = (await call("alice", "GET", "/v1/collections?limit=500")).json.collections.length;
    const { status, json } = await call(
      "alertmanager",
      "POST",
      "/v1/hooks/alertmanager",
      payload({ alertname: "DiskFull", cluster: "eu-1" }, "ffff000011112222"),
    );
    expect(status).toBe(200);
    expect(json.collections).toEqual([]);
    expect(json.alerts[0]).toMatchObject({ outcome: "no-matching-rule" });
    expect(json.alerts[0].message).toContain("alertname, cluster");
    expect(json.message).toMatch(/^nothing collected from 1 alert\(s\): 1 no-matching-rule/);
    expect((await call("alice", "GET", "/v1/collections?limit=500")).json.collections.length).toBe(before);
    const received = (await controller.store.listAudit())
      .filter((r) => r.event === "trigger.received")
      .at(-1);
    expect(received?.details).toMatchObject({
      alerts: 1,
      outcomes: { "no-matching-rule": 1 },
      collections: [],
    });
  });

  it("takes only a service identity", async () => {
    const { status, json } = await call(
      "alice",
      "POST",
      "/v1/hooks/alertmanager",
      payload({ alertname: "HighMemory" }, "1"),
    );
    expect(status).toBe(403);
    expect(json.error.code).toBe("KH_POLICY_DENIED");
  });
});

describe("revocation", () => {
  it("revoking the enrollment token stops its agents: refused heartbeats, no longer targets", async () => {
    await revokeEnrollToken({ dataDir: stack.path("data"), id: stagingTokenId });
    await waitFor("staging agents revoked", async () => {
      const { json } = await call("alice", "GET", "/v1/agents?selector=app=orders");
      return json.agents.every((a: { state: string }) => a.state === "revoked") ? true : undefined;
    });
    const { status, json } = await call("alice", "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=payments",
      environment: "staging",
      reason: "test: revoked agents are no targets",
    });
    expect(status).toBe(201);
    // Only the inventory file's agent remains.
    expect(json.collection.targets.map((t: { target: string }) => t.target)).toEqual([
      "staging/payments/static-0",
    ]);
    await finished(json.collection.id);
  });
});
