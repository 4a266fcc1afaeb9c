/**
 * Two real controller processes (`keyhole controller --database postgres://…`) on one PostgreSQL
 * database, with a real agent and workload on loopback: what one controller decides, the other sees,
 * and a request is dispatched exactly once when both try at the same moment. The database is a private
 * schema of the test server (127.0.0.1:5432, database `test`), dropped afterwards.
 */
import { readFile, writeFile } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../controller/audit/chain.js";
import { openPostgresStore, type PostgresStore } from "../../controller/store/postgres-store.js";
import { createTestSchema, type TestSchema } from "../helpers/postgres.js";
import { controllerArgs, Stack, type StartedProcess, type Workload } from "../helpers/stack.js";
import { expectLinearChain } from "../integration/controller/store-contract.js";

const AGENT_ID = "production/shop/shop-0";
const stack = new Stack("pg-replicas");

let schema: TestSchema;
/** The controllers' URL: the test schema, and an application_name to find their sessions by. */
let databaseUrl: string;
let appName: string;
let store: PostgresStore;
let workload: Workload;
let agent: StartedProcess;
const controllers: Record<"a" | "b", StartedProcess | undefined> = { a: undefined, b: undefined };
const tokens: Record<string, string> = {};

async function startController(name: "a" | "b"): Promise<StartedProcess> {
  const service = await stack.startController({
    name: `controller-${name}`,
    database: databaseUrl,
    dataDir: stack.path(`data-${name}`),
    id: `controller-${name}`,
    policy: stack.path("policy.yaml"),
    inventory: stack.path("inventory.yaml"),
    // The approval race files 50 requests a minute as one subject: no per-subject rate limit here.
    env: { KEYHOLE_RATE_LIMIT_PER_MINUTE: "0" },
  });
  controllers[name] = service;
  return service;
}

const urlOf = (name: "a" | "b") => controllers[name]!.url;

async function call(
  name: "a" | "b",
  who: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
): Promise<{ status: number; json: any }> {
  const response = await fetch(`${urlOf(name)}${path}`, {
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

/** Polls until every request is in a final state, bounded. */
async function waitFinal(ids: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await Promise.all(ids.map((id) => store.getRequest(id)));
    if (records.every((r) => r && ["completed", "failed", "denied", "expired"].includes(r.status))) return;
    if (Date.now() > deadline) {
      throw new Error(
        `requests not finished: ${records
          .filter((r) => r?.status !== "completed")
          .map((r) => `${r?.id}=${r?.status}`)
          .join(", ")}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The agent's "request served" log lines, by ticket. */
async function servedByTicket(): Promise<Map<string, Record<string, unknown>[]>> {
  const served = new Map<string, Record<string, unknown>[]>();
  for (const line of (await readFile(agent.logFile!, "utf8")).split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.msg !== "request served" || typeof entry.ticket !== "string") continue;
    served.set(entry.ticket, [...(served.get(entry.ticket) ?? []), entry]);
  }
  return served;
}

function eventsOf(audit: readonly AuditRecord[], requestId: string, event: string): AuditRecord[] {
  return audit.filter((r) => r.requestId === requestId && r.event === event);
}

beforeAll(async () => {
  schema = await createTestSchema("kh_e2e");
  stack.onStop(() => schema.drop());
  appName = `keyhole_${schema.name}`;
  const url = new URL(schema.url);
  url.searchParams.set("application_name", appName);
  databaseUrl = url.toString();

  workload = await stack.startWorkload();
  agent = await stack.startAgent({ id: AGENT_ID, environment: "production", actions: ["process-info"] });
  stack.writeInventory();
  stack.write(
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

  // Both controllers start at the same moment on an empty database: the schema is created once.
  await Promise.all([startController("a"), startController("b")]);
  // Tokens go straight into the shared database, as an operator would issue them.
  for (const name of ["alice", "bob", "erin"]) {
    tokens[name] = (
      await stack.issueToken(name, `user:${name}@example.com`, ["sre"], ["--database", databaseUrl])
    ).token;
  }
  store = await openPostgresStore(schema.url, { maxConnections: 2 });
  stack.onStop(() => store.close());
}, 90_000);

afterAll(async () => {
  const running = [controllers.a, controllers.b, agent, workload].filter(
    (s): s is StartedProcess => s !== undefined,
  );
  const codes = await Promise.all(running.map((s) => s.stop()));
  await stack.stop();
  expect(codes).toEqual(running.map(() => 0));
});

describe("two controllers on one PostgreSQL database", () => {
  it("a database it cannot reach stops the controller with one line and exit 1, never the password", async () => {
    const unreachable = await stack.keyhole(
      controllerArgs({
        database: "postgres://keyhole:s3cret-pw@127.0.0.1:1/keyhole",
        dataDir: stack.path("data-x"),
      }),
    );
    expect(unreachable.code).toBe(1);
    const lines = unreachable.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /cannot open the PostgreSQL database postgres:\/\/keyhole:\*\*\*@127\.0\.0\.1:1\/keyhole/,
    );
    expect(unreachable.stderr + unreachable.stdout).not.toContain("s3cret-pw");
    // A URL without a host is a usage error (exit 2), found before anything starts.
    const malformed = await stack.keyhole(controllerArgs({ database: "postgres:///keyhole" }));
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--database \(KEYHOLE_DATABASE\): must be postgres:\/\//);
  });

  it("what one controller records, the other sees: a request filed on A, approved on B, dispatched once", async () => {
    const created = await call("a", "alice", "POST", "/v1/requests", {
      action: "process-info",
      target: AGENT_ID,
      params: {},
      reason: "replicas: seen by the other",
      ticket: "SEEN-1",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.request.id as string;

    const onB = await call("b", "bob", "GET", "/v1/requests?status=pending");
    expect(onB.json.requests.map((r: { id: string }) => r.id)).toContain(id);

    // Through the real CLI as an approver would, against controller B.
    const approved = await stack.keyhole(["approve", id, "--note", "seen from B", "--json"], {
      KEYHOLE_URL: urlOf("b"),
      KEYHOLE_TOKEN: tokens.bob,
    });
    expect(approved.code, approved.stderr).toBe(0);

    await waitFinal([id]);
    const onA = await call("a", "alice", "GET", `/v1/requests/${id}`);
    expect(onA.json.request).toMatchObject({
      status: "completed",
      approvals: [{ subject: "user:bob@example.com", note: "seen from B" }],
    });
    expect(onA.json.request.result.result.pid).toBe(workload.pid);
    // B approved it, so B dispatched it; the agent ran it once.
    const audit = await store.listAudit();
    expect(eventsOf(audit, id, "request.dispatched").map((r) => r.actor)).toEqual([
      "controller:controller-b",
    ]);
    expect((await servedByTicket()).get("SEEN-1")).toHaveLength(1);
    // A second approval on A of the same request is refused: A sees B's decision.
    const again = await call("a", "erin", "POST", `/v1/requests/${id}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("KH_INVALID_STATE");
  });

  it("approvers racing on A and B: exactly one approval counts and the request runs once (50 times)", async () => {
    const rounds = 50;
    const ids: string[] = [];
    const started = Date.now();
    for (let i = 0; i < rounds && Date.now() - started < 60_000; i++) {
      const created = await call(i % 2 ? "a" : "b", "alice", "POST", "/v1/requests", {
        action: "process-info",
        target: AGENT_ID,
        params: {},
        reason: "replicas: approval race",
        ticket: `APPROVE-RACE-${i}`,
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const id = created.json.request.id as string;
      ids.push(id);
      const answers = await Promise.all([
        call("a", "bob", "POST", `/v1/requests/${id}/approve`, {}),
        call("b", "erin", "POST", `/v1/requests/${id}/approve`, {}),
      ]);
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses, JSON.stringify(answers.map((a) => a.json))).toEqual([200, 409]);
      expect(answers.find((a) => a.status === 409)!.json.error.code).toBe("KH_INVALID_STATE");
    }
    expect(ids).toHaveLength(rounds);
    await waitFinal(ids);

    const audit = await store.listAudit();
    const served = await servedByTicket();
    for (const [i, id] of ids.entries()) {
      const request = (await store.getRequest(id))!;
      expect(request.status).toBe("completed");
      expect(request.approvals).toHaveLength(1);
      expect(eventsOf(audit, id, "request.approved")).toHaveLength(1);
      expect(eventsOf(audit, id, "request.dispatched")).toHaveLength(1);
      expect(eventsOf(audit, id, "request.completed")).toHaveLength(1);
      const runs = served.get(`APPROVE-RACE-${i}`) ?? [];
      expect(runs).toHaveLength(1);
      expect(runs[0]!.requestId).toBe(request.jti);
    }
    expectLinearChain(audit);
  }, 120_000);

  it("both controllers dispatching the same approved requests at the same moment: each runs once", async () => {
    // A crash between approval and dispatch leaves requests approved; every controller that starts
    // dispatches those. Stop both, leave such requests behind, and start both again while this test
    // holds the requests' rows: both controllers' compare-and-set UPDATEs queue on the same rows,
    // and are let go together.
    // 8 at a time leaves each controller's pool (10 connections) two for its other work while 8 of
    // its transactions wait on the held rows.
    const rounds = 6;
    const perRound = 8;
    const locker = new pg.Client({ connectionString: schema.url });
    await locker.connect();
    const winners: string[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        await Promise.all([controllers.a!.stop(), controllers.b!.stop()]);
        const ids = Array.from({ length: perRound }, (_, i) => `dispatch-race-${round}-${i}`);
        const now = Date.now();
        for (const [i, id] of ids.entries()) {
          await store.createRequest(
            {
              id,
              status: "pending",
              subject: "user:alice@example.com",
              action: "process-info",
              target: AGENT_ID,
              environment: "production",
              params: {},
              reason: "replicas: dispatch race",
              ticket: `DISPATCH-RACE-${round}-${i}`,
              approvalsRequired: 1,
              createdAt: now,
              expiresAt: now + 600_000,
              // Dispatch checks the requester's entitlement again: alice's real token and groups.
              requester: { groups: ["sre"], credential: { kind: "token", id: tokens.alice!.split("_")[1]! } },
            },
            [
              {
                actor: "user:alice@example.com",
                event: "request.created",
                requestId: id,
                // What the dispatcher checks on the chain before signing (issue 23, finding 5).
                details: {
                  action: "process-info",
                  target: AGENT_ID,
                  environment: "production",
                  params: {},
                  approvalsRequired: 1,
                },
                reason: "replicas: dispatch race",
              },
            ],
            now,
          );
          // Approved through the store, as a controller approves: dispatch counts approval rows
          // against the policy in force (issue 23, finding 3), not the status column alone.
          await store.addApproval(
            { requestId: id, subject: "user:bob@example.com", note: undefined, at: now },
            ({ count }) => [
              {
                actor: "user:bob@example.com",
                event: "request.approved",
                requestId: id,
                // As a controller writes it: who approved, with which credential and groups, which
                // dispatch checks again (issue 23 attack, N1).
                details: {
                  approvals: count,
                  approver: {
                    groups: ["sre"],
                    credential: { kind: "token", id: tokens.bob!.split("_")[1]! },
                  },
                },
              },
            ],
          );
        }
        await locker.query("BEGIN");
        await locker.query("SELECT id FROM requests WHERE id = ANY($1) FOR UPDATE", [ids]);
        await Promise.all([startController("a"), startController("b")]);
        // Both controllers are now at the compare-and-set of every request: 2 × perRound waiting.
        const deadline = Date.now() + 20_000;
        let waiting = 0;
        while (waiting < 2 * perRound && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          waiting = Number(
            (
              await store.pool.query(
                `SELECT count(*) AS n FROM pg_stat_activity
                 WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE 'UPDATE requests SET status%'`,
                [appName],
              )
            ).rows[0].n,
          );
        }
        expect(waiting).toBe(2 * perRound);
        await locker.query("COMMIT");
        await waitFinal(ids);

        const audit = await store.listAudit();
        const served = await servedByTicket();
        for (const [i, id] of ids.entries()) {
          const request = (await store.getRequest(id))!;
          expect(request.status).toBe("completed");
          const dispatched = eventsOf(audit, id, "request.dispatched");
          expect(dispatched).toHaveLength(1);
          winners.push(dispatched[0]!.actor);
          expect(eventsOf(audit, id, "request.completed")).toHaveLength(1);
          const runs = served.get(`DISPATCH-RACE-${round}-${i}`) ?? [];
          expect(runs).toHaveLength(1);
          expect(runs[0]!.requestId).toBe(request.jti);
          expect(request.result).toMatchObject({ requestId: request.jti });
        }
      }
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await locker.end();
    }
    expect(winners).toHaveLength(rounds * perRound);
    // Every attempt above was a real race; who won each is up to PostgreSQL's lock queue.
    expect(winners.every((w) => w === "controller:controller-a" || w === "controller:controller-b")).toBe(
      true,
    );
    expectLinearChain(await store.listAudit());

    // The chain as `keyhole audit verify` sees it, through the database URL. Each replica signs its
    // checkpoints with its own data dir's audit key: the verifier pins both.
    const auditKeys = await Promise.all(
      (["a", "b"] as const).map(async (name) =>
        JSON.parse(await readFile(stack.path(`data-${name}`, "audit-jwks.json"), "utf8")),
      ),
    );
    const pinned = stack.path("audit-jwks.json");
    await writeFile(pinned, JSON.stringify({ keys: auditKeys.flatMap((k) => k.keys) }));
    const verified = await stack.keyhole(["audit", "verify", "--database", schema.url, "--key", pinned]);
    expect(verified.code, verified.stderr + verified.stdout).toBe(0);
  }, 180_000);
});
