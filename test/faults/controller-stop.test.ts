/**
 * The controller stopped while requests are in flight, as real processes with real signals:
 *
 * - SIGKILL mid-dispatch: the next start fails every request left `dispatched` with
 *   KH_DISPATCH_INTERRUPTED (whether the agent ran it is unknown; it is never re-sent), the agent
 *   saw the envelope once, and the audit chain is intact;
 * - SIGTERM: requests in flight get the grace period (KEYHOLE_SHUTDOWN_GRACE_SECONDS); one that
 *   finishes in time completes, one that does not is failed with KH_DISPATCH_INTERRUPTED before
 *   exit, and the process exits within the deadline.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../controller/audit/chain.js";
import { issueToken } from "../../controller/identity/cli.js";
import { openStore } from "../../controller/store/open-store.js";
import { type ControllerOptions, Stack, type StartedProcess } from "../helpers/stack.js";
import { type HoldingAgent, startHoldingAgent } from "./holding-agent.js";

const POLICY = `environments:
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

const stack = new Stack("fault");
let agent: HoldingAgent | undefined;

afterEach(async () => {
  await stack.stop(0);
  agent = undefined;
});

async function setUp(): Promise<{ dataDir: string; controller: ControllerOptions }> {
  const holding = await startHoldingAgent();
  agent = holding;
  stack.onStop(() => holding.close());
  const dataDir = stack.path("data");
  const policy = stack.write("policy.yaml", POLICY);
  const inventory = stack.write(
    "inventory.yaml",
    `- { id: staging/shop/shop-0, environment: staging, url: "${holding.url}" }\n`,
  );
  return { dataDir, controller: { dataDir, policy, inventory } };
}

function start(controller: ControllerOptions, env: Record<string, string> = {}): Promise<StartedProcess> {
  return stack.startController({ ...controller, env });
}

async function create(url: string, token: string): Promise<string> {
  const res = await fetch(`${url}/v1/requests`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ action: "process-info", target: "staging/shop/shop-0", reason: "fault test" }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { request: { id: string } }).request.id;
}

async function storedState(dataDir: string) {
  const store = await openStore({ kind: "sqlite", path: join(dataDir, "keyhole.db") });
  try {
    const requests = (await store.listRequests({ limit: 100 })).map((r) => r.record);
    const audit = await store.listAudit({ limit: 100_000 });
    return { requests, audit, broken: findBrokenLink(audit) };
  } finally {
    await store.close();
  }
}

describe("controller killed or stopped mid-dispatch", () => {
  it("SIGKILL mid-dispatch: the next start fails the request with KH_DISPATCH_INTERRUPTED, never re-sends it, and the chain holds", async () => {
    const { dataDir, controller } = await setUp();
    const first = await start(controller);
    const { token } = await issueToken({ dataDir, subject: "user:alice@example.com", groups: ["sre"] });
    const id = await create(first.url, token);
    await agent!.waitForEnvelopes(1);
    // The agent holds the envelope: the request is dispatched, its answer will never come.
    first.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    const before = await storedState(dataDir);
    expect(before.requests.find((r) => r.id === id)?.status).toBe("dispatched");

    const second = await start(controller);
    const res = await fetch(`${second.url}/v1/requests/${id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const view = ((await res.json()) as { request: { status: string; error?: { code: string } } }).request;
    expect(view.status).toBe("failed");
    expect(view.error?.code).toBe("KH_DISPATCH_INTERRUPTED");
    // Sent once, never again: re-sending could run the action twice.
    await new Promise((r) => setTimeout(r, 300));
    expect(agent!.received).toHaveLength(1);

    const after = await storedState(dataDir);
    expect(after.broken).toBeUndefined();
    expect(after.requests.every((r) => r.status !== "dispatched")).toBe(true);
    const events = after.audit.filter((r) => r.requestId === id).map((r) => r.event);
    expect(events).toEqual(["request.created", "request.approved", "request.dispatched", "request.failed"]);
    // Nothing was lost: the records written before the kill are all still there, in order.
    expect(after.audit.slice(0, before.audit.length)).toEqual(before.audit);
  });

  it("SIGTERM drains within the grace period: what finishes in time completes, the rest is failed before exit", async () => {
    const { dataDir, controller } = await setUp();
    const p = await start(controller, { KEYHOLE_SHUTDOWN_GRACE_SECONDS: "2" });
    const { token } = await issueToken({ dataDir, subject: "user:alice@example.com", groups: ["sre"] });
    agent!.holdMs = 700;
    const quick = await create(p.url, token);
    await agent!.waitForEnvelopes(1);
    agent!.holdMs = Number.POSITIVE_INFINITY;
    const stuck = await create(p.url, token);
    await agent!.waitForEnvelopes(2);

    const signalledAt = performance.now();
    p.kill("SIGTERM");
    const exit = await p.exited;
    const tookMs = exit.atMs - signalledAt;
    console.log(`controller drained and exited ${Math.round(tookMs)} ms after SIGTERM (grace 2000 ms)`);
    expect(exit.code).toBe(0);
    expect(tookMs).toBeGreaterThan(600); // it waited for the quick one
    expect(tookMs).toBeLessThan(2000 + 3000); // and not much past the grace period

    const state = await storedState(dataDir);
    const byId = new Map(state.requests.map((r) => [r.id, r]));
    expect(byId.get(quick)?.status).toBe("completed");
    expect(byId.get(stuck)?.status).toBe("failed");
    expect(byId.get(stuck)?.error?.code).toBe("KH_DISPATCH_INTERRUPTED");
    expect(state.broken).toBeUndefined();
    expect(p.lines.some((l) => String(l.msg).includes("grace period over"))).toBe(true);
  });
});
