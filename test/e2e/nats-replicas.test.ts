/**
 * Issue 20: two real controller processes on one PostgreSQL database dispatch to agents on NATS with
 * no routing between them. Requests are filed on one replica and approved on the other, the two
 * approvals racing: whichever replica wins dispatches over NATS and gets the answer on its own inbox;
 * each envelope runs once. The database is a private schema of the test server, dropped afterwards;
 * the NATS server is the test's own, on a free loopback port.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../controller/audit/chain.js";
import { openPostgresStore, type PostgresStore } from "../../controller/store/postgres-store.js";
import { NatsServer } from "../helpers/nats-server.js";
import { createTestSchema } from "../helpers/postgres.js";
import { Stack, type StartedProcess } from "../helpers/stack.js";

const AGENTS = ["production/shop/shop-0", "production/shop/shop-1"];
const stack = new Stack("nats-replicas");
const controllers: Record<"a" | "b", StartedProcess | undefined> = { a: undefined, b: undefined };
const tokens: Record<string, string> = {};
let store: PostgresStore;

async function call(
  name: "a" | "b",
  who: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
): Promise<{ status: number; json: any }> {
  const response = await fetch(`${controllers[name]!.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

/** Each agent's "request served" lines, by ticket. */
async function servedByTicket(): Promise<Map<string, Record<string, unknown>[]>> {
  const served = new Map<string, Record<string, unknown>[]>();
  for (const id of AGENTS) {
    for (const line of (await readFile(stack.agent(id).logFile!, "utf8")).split("\n")) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg !== "request served" || typeof entry.ticket !== "string") continue;
      served.set(entry.ticket, [...(served.get(entry.ticket) ?? []), entry]);
    }
  }
  return served;
}

const eventsOf = (audit: readonly AuditRecord[], id: string, event: string) =>
  audit.filter((r) => r.requestId === id && r.event === event);

beforeAll(async () => {
  const schema = await createTestSchema("kh_nats");
  stack.onStop(() => schema.drop());
  const nats = await NatsServer.start();
  stack.onStop(() => nats.stop());
  await stack.startWorkload();
  for (const id of AGENTS)
    await stack.startAgent({ id, environment: "production", actions: ["process-info"], connect: nats.url });
  const inventory = stack.writeInventory();
  const policy = stack.write(
    "policy.yaml",
    [
      "environments:",
      "  production: { approvals: 1, maxTtlSeconds: 120 }",
      "roles:",
      '  sre: { actions: ["*"] }',
      "bindings:",
      '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
      "",
    ].join("\n"),
  );
  await stack.keys("production");
  await Promise.all(
    (["a", "b"] as const).map(async (name) => {
      controllers[name] = await stack.startController({
        name: `controller-${name}`,
        database: schema.url,
        dataDir: stack.path(`data-${name}`),
        id: `controller-${name}`,
        policy,
        inventory,
        flags: ["--nats", nats.url],
        env: { KEYHOLE_RATE_LIMIT_PER_MINUTE: "0" },
      });
    }),
  );
  for (const name of ["alice", "bob", "erin"])
    tokens[name] = (
      await stack.issueToken(name, `user:${name}@example.com`, ["sre"], ["--database", schema.url])
    ).token;
  store = await openPostgresStore(schema.url, { maxConnections: 2 });
  stack.onStop(() => store.close());
}, 90_000);

afterAll(async () => {
  await stack.stop();
}, 30_000);

describe("issue 20: controller replicas and agents on NATS", () => {
  it("approvals racing on A and B: the winner dispatches over NATS and gets the answer; each envelope runs once", async () => {
    const rounds = 12;
    const ids: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const created = await call(i % 2 ? "a" : "b", "alice", "POST", "/v1/requests", {
        action: "process-info",
        target: AGENTS[i % AGENTS.length],
        params: {},
        reason: "nats replicas: approval race",
        ticket: `NATS-RACE-${i}`,
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const id = created.json.request.id as string;
      ids.push(id);
      const answers = await Promise.all([
        call("a", "bob", "POST", `/v1/requests/${id}/approve`, {}),
        call("b", "erin", "POST", `/v1/requests/${id}/approve`, {}),
      ]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    }
    await expect
      .poll(async () => (await Promise.all(ids.map((id) => store.getRequest(id)))).map((r) => r?.status), {
        timeout: 30_000,
        interval: 100,
      })
      .toEqual(ids.map(() => "completed"));

    const audit = await store.listAudit();
    const served = await servedByTicket();
    const dispatchers = new Set<string>();
    for (const [i, id] of ids.entries()) {
      const request = (await store.getRequest(id))!;
      const dispatched = eventsOf(audit, id, "request.dispatched");
      expect(dispatched).toHaveLength(1);
      expect(dispatched[0]!.details).toMatchObject({ transport: "nats", agent: AGENTS[i % AGENTS.length] });
      dispatchers.add(dispatched[0]!.actor);
      // The replica that dispatched recorded the answer: no other replica was involved.
      expect(eventsOf(audit, id, "request.completed").map((r) => r.actor)).toEqual([dispatched[0]!.actor]);
      const runs = served.get(`NATS-RACE-${i}`) ?? [];
      expect(runs).toHaveLength(1);
      expect(runs[0]!.requestId).toBe(request.jti);
    }
    // Both replicas dispatched some (the approvals race both ways over 12 rounds).
    expect(dispatchers.size, [...dispatchers].join(", ")).toBe(2);
  }, 120_000);
});
