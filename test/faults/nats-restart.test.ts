/**
 * Issue 20, faults of the NATS transport with real processes: a nats-server on its own loopback port
 * is killed in the middle of a collection over three agents on NATS and started again. Every target
 * must end in a defined state (completed, or failed with a code, recorded on the audit chain), no
 * envelope may run twice, and the agents must reconnect by themselves and answer the next
 * collection; an agent that reconnects after its server came back is reached again. Bounded: the
 * controller's dispatch timeout is 3 s.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "../helpers/nats-server.js";
import { Stack, type StartedProcess } from "../helpers/stack.js";

const IDS = ["staging/shop/shop-0", "staging/shop/shop-1", "staging/shop/shop-2"];
const stack = new Stack("nats-restart");
let nats: NatsServer;

beforeAll(async () => {
  nats = await NatsServer.start();
  stack.onStop(() => nats.stop());
  await stack.startWorkload();
  for (const id of IDS) await stack.startAgent({ id, environment: "staging", connect: nats.url });
  const inventory = stack.write(
    "inventory.yaml",
    IDS.map((id) => `- { id: ${id}, environment: staging, transport: nats, labels: { app: shop } }\n`).join(
      "",
    ),
  );
  const policy = stack.write(
    "policy.yaml",
    [
      "environments:",
      "  staging: { approvals: 0 }",
      "roles:",
      '  sre: { actions: ["*"] }',
      "bindings:",
      '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
      "",
    ].join("\n"),
  );
  await stack.issueToken("alice", "user:alice@example.com", ["sre"]);
  await stack.startController({
    inventory,
    policy,
    flags: ["--nats", nats.url, "--dispatch-timeout-seconds", "3"],
  });
}, 60_000);

afterAll(async () => {
  await stack.stop();
}, 30_000);

/** Files a process-info collection over the three agents and waits for it to finish. */
async function collect(reason: string) {
  const result = await stack.keyhole(
    [
      "run",
      "process-info",
      "--selector",
      "app=shop",
      "--max-concurrency",
      "1",
      "--reason",
      reason,
      "--wait",
      "--timeout",
      "60",
      "--json",
    ],
    stack.as("alice"),
    70_000,
  );
  expect(result.stdout, result.stderr).not.toBe("");
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
  return JSON.parse(result.stdout).collection as any;
}

/** The request ids each agent served, from its log ("request served", one line per run). */
function servedIds(agent: StartedProcess): string[] {
  return agent.lines.filter((l) => l.msg === "request served").map((l) => String(l.requestId));
}

function auditRecords(): Record<string, unknown>[] {
  return readFileSync(stack.path("audit.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("issue 20: the NATS server restarts", () => {
  it("in the middle of a collection: every target ends completed or failed with a code, none runs twice, and the agents answer again afterwards", async () => {
    // Warm: all three answer.
    const warm = await collect("nats fault: before");
    expect(warm.summary, JSON.stringify(warm)).toMatchObject({ succeeded: 3 });

    // The server dies under the collection and comes back 1.5 s later, on the same port.
    const running = collect("nats fault: during");
    await sleep(150);
    await nats.stop(true);
    await sleep(1500);
    await nats.start();
    const during = await running;
    expect(["completed", "failed"]).toContain(during.status);
    // The fault was hit: at least the target sent while the server was down failed.
    expect(during.summary.failed, JSON.stringify(during.targets)).toBeGreaterThanOrEqual(1);
    for (const t of during.targets) {
      expect(["completed", "failed"], JSON.stringify(t)).toContain(t.status);
      if (t.status === "failed")
        expect(["KH_AGENT_TIMEOUT", "KH_AGENT_UNREACHABLE"], JSON.stringify(t)).toContain(t.error.code);
    }

    // The agents reconnected by themselves: a new collection reaches all three.
    await expect
      .poll(async () => (await collect("nats fault: after")).summary?.succeeded, {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(3);

    // Nothing ran twice: no agent served one envelope twice.
    for (const id of IDS) {
      const ids = servedIds(stack.agent(id));
      expect(new Set(ids).size, `${id} served ${ids.join(", ")}`).toBe(ids.length);
    }
    // The audit says what happened to each target of the interrupted collection.
    const exported = await stack.keyhole([
      "audit",
      "export",
      "--out",
      stack.path("audit.jsonl"),
      "--data-dir",
      stack.dir,
    ]);
    expect(exported.code, exported.stderr).toBe(0);
    const records = auditRecords();
    for (const t of during.targets) {
      const outcome = records.find(
        (r) =>
          r.requestId === t.requestId && (r.event === "request.completed" || r.event === "request.failed"),
      );
      expect(outcome, JSON.stringify(t)).toBeDefined();
    }
    // Each agent logged the disconnect and the reconnect.
    for (const id of IDS) {
      const lines = stack.agent(id).lines;
      expect(lines.some((l) => l.nats === "disconnect")).toBe(true);
      expect(lines.some((l) => l.nats === "reconnect")).toBe(true);
    }
  }, 150_000);

  it("an agent reached while the server is down is failed with a code within the dispatch timeout", async () => {
    await nats.stop(true);
    const started = performance.now();
    const result = await stack.keyhole(
      ["run", "process-info", "--target", IDS[0]!, "--reason", "nats fault: down", "--wait", "--json"],
      stack.as("alice"),
    );
    const tookMs = performance.now() - started;
    await nats.start();
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/KH_AGENT_TIMEOUT|KH_AGENT_UNREACHABLE/);
    expect(tookMs).toBeLessThan(15_000);
    // And once it is back, the agent is reached again.
    await expect
      .poll(
        async () =>
          (
            await stack.keyhole(
              [
                "run",
                "process-info",
                "--target",
                IDS[0]!,
                "--reason",
                "nats fault: back",
                "--wait",
                "--json",
              ],
              stack.as("alice"),
            )
          ).code,
        { timeout: 20_000, interval: 500 },
      )
      .toBe(0);
  }, 60_000);

  it("an agent started before its NATS server waits for it, says so, and connects once it is up", async () => {
    await nats.stop();
    const starting = stack.startAgent({ id: "staging/shop/late", environment: "staging", connect: nats.url });
    await sleep(2500);
    await nats.start();
    const agent = await starting;
    expect(agent.lines.some((l) => l.msg === "waiting for the NATS server")).toBe(true);
    expect(agent.lines.findIndex((l) => l.msg === "waiting for the NATS server")).toBeLessThan(
      agent.lines.findIndex((l) => l.msg === "connected"),
    );
  }, 30_000);
});
