/**
 * Issue 23, finding 4: `--advertise-url` was a read-back SSRF. An enrollment-token holder enrolled
 * an id at `http://127.0.0.1:<port>/admin/internal-api?x=`; the controller POSTed the envelope there
 * and stored the internal service's JSON answer as the request's result, served back to the caller.
 *
 * Now the controller only talks to what an operator allowed: an agent URL is scheme, host and port
 * (no path, query, fragment or user info); loopback, link-local and metadata addresses are refused
 * unless `--agent-networks ENV=CIDR,…` names them; with an allow-list an agent connects from and is
 * reached inside it; the dispatcher resolves an enrolled host again and dials exactly the checked
 * address; and an answer is kept only when it names the envelope's jti and the agent's id. A real
 * controller (SQLite, or PostgreSQL with KEYHOLE_TEST_STORE=postgres), a real "internal service" on
 * loopback.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AnswerSigner } from "../../../agent/answer-signer.js";
import { AgentNetworks } from "../../../controller/fleet/agent-networks.js";
import { issueEnrollToken } from "../../../controller/fleet/cli.js";
import { enrollBody, testAgentIdentity } from "../../helpers/enroll-body.js";
import { type Harness, startHarness } from "./helpers.js";

/** An internal HTTP service that answers every POST with its secrets, and counts the POSTs. */
async function internalService(
  answer: (body: string) => { status: number; body: unknown; headers?: Record<string, string> } = () => ({
    status: 200,
    body: { internal: "db-password=hunter2" },
  }),
): Promise<{ port: number; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      hits.push(`${req.method} ${req.url}`);
      const a = answer(body);
      res
        .writeHead(a.status, { "content-type": "application/json", ...a.headers })
        .end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("issue 23 finding 4: the controller only talks to agent addresses an operator allowed", () => {
  let h: Harness | undefined;
  let service: Awaited<ReturnType<typeof internalService>> | undefined;
  afterEach(async () => {
    await h?.close();
    await service?.close();
    h = undefined;
    service = undefined;
  });

  async function setUp(agentNetworks?: string[]) {
    h = await startHarness({ config: agentNetworks ? { agentNetworks } : {} });
    const location = h.database ? { database: h.database } : { dataDir: join(h.dir, "data") };
    const { token } = await issueEnrollToken({ ...location, environment: "staging" });
    const enroll = (body: Record<string, unknown>, remoteAddress = "10.0.0.7") =>
      h!.controller.app.inject({
        method: "POST",
        url: "/v1/agents/enroll",
        remoteAddress,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        payload: enrollBody({ environment: "staging", port: 7070, labels: { app: "payments" }, ...body }),
      });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    /** Files a staging request (no approval needed) against `target` and waits for its end. */
    const run = async (target: string) => {
      const created = await h!.call(alice, "POST", "/v1/requests", {
        action: "process-info",
        target,
        reason: "INC-23 finding 4",
      });
      await h!.controller.dispatcher.whenIdle();
      if (created.status !== 201) return { created };
      const after = await h!.call(alice, "GET", `/v1/requests/${created.json.request.id}`);
      return { created, request: after.json.request };
    };
    return { enroll, run };
  }

  it("the reviewed attack: an id enrolled at an internal URL never makes the controller POST there or store its answer", async () => {
    service = await internalService();
    const { enroll, run } = await setUp();
    const rogue = await enroll({
      id: "staging/rogue/rogue-0",
      url: `http://127.0.0.1:${service.port}/admin/internal-api?x=`,
    });
    expect(rogue.statusCode).toBe(400);
    expect(rogue.json().error.message).toMatch(/no path/);
    // Without the path and query, loopback is still refused: no allow-list names it.
    const bare = await enroll({ id: "staging/rogue/rogue-0", url: `http://127.0.0.1:${service.port}` });
    expect(bare.statusCode).toBe(403);
    expect(bare.json().error).toMatchObject({ code: "KH_ENROLL_DENIED" });
    expect(bare.json().error.message).toMatch(/127\.0\.0\.1 is loopback, refused unless --agent-networks/);
    // Nor without --advertise-url from a loopback connection, nor at a metadata address or by a name.
    expect((await enroll({ id: "staging/rogue/rogue-1" }, "127.0.0.1")).statusCode).toBe(403);
    expect((await enroll({ id: "staging/rogue/rogue-2", url: "http://169.254.169.254" })).statusCode).toBe(
      403,
    );
    expect(
      (await enroll({ id: "staging/rogue/rogue-3", url: `http://localhost:${service.port}` })).statusCode,
    ).toBe(403);
    expect(
      (await enroll({ id: "staging/rogue/rogue-4", url: "http://[::ffff:127.0.0.1]:80" })).statusCode,
    ).toBe(403);
    expect((await enroll({ id: "staging/rogue/rogue-5", url: "http://0.0.0.0:80" })).statusCode).toBe(403);

    const { request } = await run("staging/rogue/rogue-0");
    expect(service.hits).toEqual([]);
    expect(JSON.stringify(request ?? {})).not.toContain("hunter2");
    const refused = (await h!.controller.store.listAudit()).filter((r) => r.event === "agent.refused");
    expect(refused.length).toBeGreaterThanOrEqual(6);
  });

  it("an allow-list bounds where an agent connects from and what it advertises; special ranges only when named", async () => {
    const { enroll } = await setUp(["staging=10.0.0.0/8", "production=10.9.0.0/16"]);
    expect((await enroll({ id: "staging/a/a-0" })).statusCode).toBe(201);
    expect((await enroll({ id: "staging/a/a-1", url: "http://10.1.2.3:7070" })).statusCode).toBe(201);
    const outside = await enroll({ id: "staging/a/a-2", url: "http://192.168.1.5:7070" });
    expect(outside.statusCode).toBe(403);
    expect(outside.json().error.message).toMatch(/192\.168\.1\.5 is outside --agent-networks for "staging"/);
    const from = await enroll({ id: "staging/a/a-3", url: "http://10.1.2.4:7070" }, "192.168.1.5");
    expect(from.statusCode).toBe(403);
    expect(from.json().error.message).toMatch(/enrolling connection's address 192\.168\.1\.5/);
    // 0.0.0.0/0 names no special range: loopback stays refused under the widest allow-list.
    const wide = await startHarness({ config: { agentNetworks: ["staging=0.0.0.0/0"] } });
    try {
      const location = wide.database ? { database: wide.database } : { dataDir: join(wide.dir, "data") };
      const { token } = await issueEnrollToken({ ...location, environment: "staging" });
      const answer = await wide.controller.app.inject({
        method: "POST",
        url: "/v1/agents/enroll",
        remoteAddress: "127.0.0.1",
        headers: { authorization: `Bearer ${token}` },
        payload: enrollBody({ id: "staging/b/b-0", environment: "staging", port: 7070 }),
      });
      expect(answer.statusCode).toBe(403);
    } finally {
      await wide.close();
    }
  });

  it("an answer that does not name the envelope's jti and the agent's id is not kept, nor a refusal's message", async () => {
    let answer: (body: string) => { status: number; body: unknown; headers?: Record<string, string> } =
      () => ({
        status: 200,
        body: { internal: "db-password=hunter2" },
      });
    service = await internalService((body) => answer(body));
    // The operator allows loopback for staging: the service is reachable, but it is not the agent.
    const { enroll, run } = await setUp(["staging=127.0.0.0/8"]);
    const id = "staging/pay/pay-0";
    expect((await enroll({ id, url: `http://127.0.0.1:${service.port}` }, "127.0.0.1")).statusCode).toBe(201);

    const first = await run(id);
    expect(service.hits).toHaveLength(1);
    expect(first.request).toMatchObject({ status: "failed", error: { code: "KH_AGENT_BAD_RESPONSE" } });
    expect(JSON.stringify(first.request)).not.toContain("hunter2");

    answer = () => ({ status: 403, body: { error: { code: "KH_NOPE", message: "db-password=hunter2" } } });
    const second = await run(id);
    expect(second.request.error.code).toBe("KH_AGENT_BAD_RESPONSE");
    expect(second.request.error.message).toMatch(/HTTP 403, KH_NOPE.*nothing of it was kept/);
    expect(JSON.stringify(second.request)).not.toContain("hunter2");

    // Naming the jti and the agent's id is not enough any more: the answer must be signed with the
    // key the agent enrolled with (issue 21) …
    const body = (jws: string) => {
      const claims = JSON.parse(Buffer.from(jws.split(".")[1]!, "base64url").toString("utf8"));
      return {
        requestId: claims.jti,
        agent: id,
        action: "process-info",
        startedAt: "",
        durationMs: 1,
        result: { pid: 7 },
      };
    };
    answer = (jws) => ({ status: 200, body: body(jws) });
    const third = await run(id);
    expect(third.request).toMatchObject({ status: "failed", error: { code: "KH_AGENT_UNVERIFIED" } });
    // … and then it is the agent's answer (the real agent does exactly this: agent/app.ts).
    const signer = new AnswerSigner(testAgentIdentity);
    answer = (jws) => ({ status: 200, body: JSON.parse(signer.inline(body(jws))) });
    const fourth = await run(id);
    expect(fourth.request).toMatchObject({ status: "completed", result: { result: { pid: 7 } } });
  });

  it("the dispatcher dials only a checked address: a stored registration that resolves to loopback is not dialled", async () => {
    service = await internalService();
    await setUp();
    const store = h!.controller.store;
    // As if enrolled before the check existed, or its name re-pointed since (DNS rebinding).
    const [token] = await store.fleet.listEnrollTokens();
    const now = Date.now();
    await store.fleet.saveEnrolledAgent(
      {
        id: "staging/old/old-0",
        environment: "staging",
        url: `http://localhost:${service.port}`,
        labels: {},
        actions: ["process-info"],
        enrollTokenId: token!.id,
        sessionHash: "0".repeat(64),
        enrolledAt: now,
        lastSeenAt: now,
      },
      [],
      now,
    );
    await h!.controller.fleet.registry.refresh();
    const alice = await h!.token("user:alice@example.com", ["sre"]);
    const created = await h!.call(alice, "POST", "/v1/requests", {
      action: "process-info",
      target: "staging/old/old-0",
      reason: "INC-23 finding 4",
    });
    expect(created.status).toBe(201);
    await h!.controller.dispatcher.whenIdle();
    const after = (await h!.call(alice, "GET", `/v1/requests/${created.json.request.id}`)).json.request;
    expect(after).toMatchObject({ status: "failed", error: { code: "KH_AGENT_UNREACHABLE" } });
    expect(after.error.message).toMatch(/loopback, refused unless --agent-networks/);
    expect(service.hits).toEqual([]);
  });

  it("the pinned lookup refuses names that resolve to special addresses and hands node the checked one", async () => {
    const networks = new AgentNetworks([{ environment: "staging", cidrs: ["127.0.0.0/8", "::1/128"] }]);
    const lookup = (environment: string) =>
      new Promise<unknown>((resolve) =>
        networks.pinnedLookup(environment)("localhost", { all: true }, (err, address) =>
          resolve(err ? err.message : address),
        ),
      );
    expect(await lookup("production")).toMatch(/is loopback/);
    const addresses = (await lookup("staging")) as { address: string }[];
    expect(addresses.map((a) => a.address)).toContain("127.0.0.1");
    expect(networks.refusal("staging", "::ffff:127.0.0.1", "x")).toBeUndefined();
    expect(networks.refusal("production", "fd00:ec2::254", "x")).toMatch(/metadata/);
  });
});
