import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../../controller/audit/chain.js";
import { type Harness, startHarness } from "./helpers.js";

const STAGING = "staging/shop/shop-0";
const PROD = "production/shop/shop-0";
const RESTRICTED = "restricted/shop/shop-0";

describe("request lifecycle through the HTTP API", () => {
  let h: Harness;
  let alice: string;
  let bob: string;
  let carol: string;
  let dave: string;

  beforeEach(async () => {
    h = await startHarness();
    alice = await h.token("user:alice@example.com", ["sre"]);
    bob = await h.token("user:bob@example.com", ["sre"]);
    carol = await h.token("user:carol@example.com", ["support"]);
    dave = await h.token("user:dave@example.com", []);
  });
  afterEach(async () => {
    await h.close();
  });

  async function eventsOf(requestId: string): Promise<string[]> {
    return (await h.controller.store.listAudit())
      .filter((r) => r.requestId === requestId)
      .map((r) => r.event);
  }

  it("refuses raw memory and bundled actions that the caller's roles do not grant, recording the refusal", async () => {
    const raw = await h.call(alice, "POST", "/v1/requests", {
      action: "heap-snapshot",
      target: STAGING,
      params: { redact: false },
      output: "stream",
      reason: "raw heap",
    });
    expect([raw.status, raw.json.error.code]).toEqual([403, "KH_POLICY_DENIED"]);
    expect(raw.json.error.message).toContain("heap-snapshot:unredacted");
    const bundled = await h.call(carol, "POST", "/v1/requests", {
      action: "bundle",
      target: STAGING,
      params: { actions: [{ action: "heap-snapshot", params: {} }] },
      output: "stream",
      reason: "a snapshot through a bundle",
    });
    expect([bundled.status, bundled.json.error.code]).toEqual([403, "KH_POLICY_DENIED"]);
    const refused = (await h.controller.store.listAudit()).filter((r) => r.event === "request.refused");
    expect(refused).toHaveLength(2);
    expect((await h.call(alice, "GET", "/v1/requests")).json.requests).toHaveLength(0);
  });

  it("runs a staging request at once: created, approved automatically, dispatched, completed with the result", async () => {
    const created = await h.call(alice, "POST", "/v1/requests", {
      action: "log-tail",
      target: STAGING,
      params: { file: "/var/log/app.log", lines: 5 },
      reason: "memory check",
      ticket: "INC-1",
    });
    expect(created.status).toBe(201);
    expect(created.json.request).toMatchObject({
      status: "approved",
      subject: "user:alice@example.com",
      action: "log-tail",
      target: STAGING,
      environment: "staging",
      params: { file: "/var/log/app.log", lines: 5 },
      reason: "memory check",
      ticket: "INC-1",
      approvalsRequired: 0,
      approvals: [],
    });
    await h.controller.dispatcher.whenIdle();

    const { json } = await h.call(alice, "GET", `/v1/requests/${created.json.request.id}`);
    expect(json.request.status).toBe("completed");
    expect(json.request.result).toMatchObject({
      agent: STAGING,
      action: "log-tail",
      result: { pid: 42, echo: { file: "/var/log/app.log", lines: 5 } },
    });

    const agent = h.agents.staging!;
    expect(agent.rejected).toEqual([]);
    expect(agent.received).toHaveLength(1);
    const claims = agent.received[0]!;
    expect(claims).toMatchObject({
      iss: "keyhole-controller",
      sub: "user:alice@example.com",
      aud: STAGING,
      env: "staging",
      action: "log-tail",
      params: { file: "/var/log/app.log", lines: 5 },
      reason: "memory check",
      ticket: "INC-1",
      approvals: [],
      output: { mode: "inline" },
    });
    expect(claims.exp - claims.iat).toBe(60);
    expect(claims.jti.length).toBeGreaterThanOrEqual(22);

    expect(await eventsOf(created.json.request.id)).toEqual([
      "request.created",
      "request.approved",
      "request.dispatched",
      "request.completed",
    ]);
  });

  it("holds a production request for a second person: self-approval and unentitled approvers are refused", async () => {
    const created = await h.call(alice, "POST", "/v1/requests", {
      action: "env",
      target: PROD,
      reason: "INC-2 drift",
    });
    expect(created.status).toBe(201);
    const id = created.json.request.id as string;
    expect(created.json.request).toMatchObject({ status: "pending", approvalsRequired: 1, params: {} });

    const self = await h.call(alice, "POST", `/v1/requests/${id}/approve`, {});
    expect(self.status).toBe(403);
    expect(self.json.error.code).toBe("KH_SELF_APPROVAL");

    // carol may run process-info in production, but not env: she cannot approve env, nor see that
    // such a request exists (as for GET: 404, not a 403 naming its action and environment).
    const unentitled = await h.call(carol, "POST", `/v1/requests/${id}/approve`, {});
    expect(unentitled.status).toBe(404);
    expect(unentitled.json.error.code).toBe("KH_NOT_FOUND");
    const nobody = await h.call(dave, "POST", `/v1/requests/${id}/approve`);
    expect(nobody.json.error.code).toBe("KH_NOT_FOUND");
    expect(h.agents.production!.received).toHaveLength(0);

    const approved = await h.call(bob, "POST", `/v1/requests/${id}/approve`, { note: "looks right" });
    expect(approved.status).toBe(200);
    expect(approved.json.request.status).toBe("approved");
    expect(approved.json.request.approvals).toEqual([
      { subject: "user:bob@example.com", at: expect.any(String), note: "looks right" },
    ]);
    await h.controller.dispatcher.whenIdle();

    const done = await h.call(alice, "GET", `/v1/requests/${id}`);
    expect(done.json.request.status).toBe("completed");
    expect(h.agents.production!.received.map((c) => c.approvals)).toEqual([["user:bob@example.com"]]);
    expect(h.agents.production!.received[0]!.exp - h.agents.production!.received[0]!.iat).toBe(120);

    const again = await h.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("KH_INVALID_STATE");
    expect(await eventsOf(id)).toEqual([
      "request.created",
      "request.approved",
      "request.dispatched",
      "request.completed",
    ]);
    // Dispatched exactly once.
    expect(h.agents.production!.received).toHaveLength(1);
  });

  it("counts distinct approvals: the same approver twice is refused, the second person approves", async () => {
    const erin = await h.token("user:erin@example.com", ["sre"]);
    const created = await h.call(alice, "POST", "/v1/requests", {
      action: "env",
      target: RESTRICTED,
      reason: "audit",
    });
    const id = created.json.request.id as string;
    const first = await h.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(first.json.request).toMatchObject({
      status: "pending",
      approvals: [{ subject: "user:bob@example.com" }],
    });
    const twice = await h.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(twice.status).toBe(409);
    expect(twice.json.error.code).toBe("KH_ALREADY_APPROVED");
    const second = await h.call(erin, "POST", `/v1/requests/${id}/approve`, {});
    expect(second.json.request.status).toBe("approved");
    await h.controller.dispatcher.whenIdle();
    expect(h.agents.restricted!.received[0]!.approvals.sort()).toEqual([
      "user:bob@example.com",
      "user:erin@example.com",
    ]);
    const approvals = (await h.controller.store.listAudit()).filter(
      (r) => r.requestId === id && r.event === "request.approved",
    );
    expect(approvals.map((r) => [r.actor, r.details.approvals, r.details.status])).toEqual([
      ["user:bob@example.com", 1, "pending"],
      ["user:erin@example.com", 2, "approved"],
    ]);
  });

  it("denies with a reason, and lets the requester withdraw", async () => {
    const a = (await h.call(alice, "POST", "/v1/requests", { action: "env", target: PROD, reason: "r1" }))
      .json.request.id;
    const noReason = await h.call(bob, "POST", `/v1/requests/${a}/deny`, {});
    expect(noReason.status).toBe(400);
    expect(noReason.json.error.code).toBe("KH_BAD_REQUEST");
    const blank = await h.call(bob, "POST", `/v1/requests/${a}/deny`, { reason: "   " });
    expect(blank.json.error.code).toBe("KH_BAD_REQUEST");
    const unentitled = await h.call(dave, "POST", `/v1/requests/${a}/deny`, { reason: "no" });
    expect(unentitled.json.error.code).toBe("KH_NOT_FOUND");

    const denied = await h.call(bob, "POST", `/v1/requests/${a}/deny`, { reason: "use staging first" });
    expect(denied.status).toBe(200);
    expect(denied.json.request).toMatchObject({
      status: "denied",
      denial: { by: "user:bob@example.com", reason: "use staging first" },
    });
    const late = await h.call(bob, "POST", `/v1/requests/${a}/approve`, {});
    expect(late.json.error.code).toBe("KH_INVALID_STATE");
    const twice = await h.call(bob, "POST", `/v1/requests/${a}/deny`, { reason: "again" });
    expect(twice.json.error.code).toBe("KH_INVALID_STATE");

    const b = (await h.call(alice, "POST", "/v1/requests", { action: "env", target: PROD, reason: "r2" }))
      .json.request.id;
    const withdrawn = await h.call(alice, "POST", `/v1/requests/${b}/deny`, { reason: "wrong target" });
    expect(withdrawn.json.request).toMatchObject({
      status: "denied",
      denial: { by: "user:alice@example.com" },
    });

    const audit = await h.controller.store.listAudit();
    expect(
      audit
        .filter((r) => r.event === "request.denied")
        .map((r) => [r.requestId, r.actor, r.reason, r.details.withdrawn]),
    ).toEqual([
      [a, "user:bob@example.com", "use staging first", false],
      [b, "user:alice@example.com", "wrong target", true],
    ]);
    expect(h.agents.production!.received).toHaveLength(0);
  });

  it("refuses what the policy does not allow, records the refusal and stores no request", async () => {
    const refused = await h.call(carol, "POST", "/v1/requests", {
      action: "env",
      target: PROD,
      reason: "curious",
    });
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe("KH_POLICY_DENIED");
    const allowed = await h.call(carol, "POST", "/v1/requests", {
      action: "process-info",
      target: STAGING,
      reason: "ok",
    });
    expect(allowed.status).toBe(201);
    const unknownTarget = await h.call(alice, "POST", "/v1/requests", {
      action: "env",
      target: "nope/x",
      reason: "r",
    });
    expect(unknownTarget.status).toBe(404);
    expect(unknownTarget.json.error.code).toBe("KH_UNKNOWN_TARGET");

    const audit = await h.controller.store.listAudit();
    const refusal = audit.find((r) => r.event === "request.refused")!;
    expect(refusal).toMatchObject({ actor: "user:carol@example.com", requestId: null, reason: "curious" });
    expect(refusal.details).toMatchObject({ action: "env", target: PROD, environment: "production" });
    const list = await h.call(alice, "GET", "/v1/requests");
    expect(list.json.requests).toHaveLength(1);
  });

  it("lists newest first, filters by status, and hides requests from callers with no stake in them", async () => {
    const ids: string[] = [];
    for (const reason of ["one", "two", "three"]) {
      ids.push(
        (await h.call(alice, "POST", "/v1/requests", { action: "env", target: PROD, reason })).json.request
          .id,
      );
    }
    await h.call(bob, "POST", `/v1/requests/${ids[1]}/deny`, { reason: "no" });
    const all = await h.call(bob, "GET", "/v1/requests");
    expect(all.json.requests.map((r: { id: string }) => r.id)).toEqual([...ids].reverse());
    const pending = await h.call(bob, "GET", "/v1/requests?status=pending&limit=1");
    expect(pending.json.requests.map((r: { id: string }) => r.id)).toEqual([ids[2]]);

    expect((await h.call(dave, "GET", "/v1/requests")).json.requests).toEqual([]);
    const hidden = await h.call(dave, "GET", `/v1/requests/${ids[0]}`);
    expect(hidden.status).toBe(404);
    expect(hidden.json.error.code).toBe("KH_NOT_FOUND");
    const daveOwn = await h.call(carol, "POST", "/v1/requests", {
      action: "process-info",
      target: PROD,
      reason: "mine",
    });
    expect((await h.call(carol, "GET", `/v1/requests/${daveOwn.json.request.id}`)).status).toBe(200);
    // carol sees her own request but not alice's env requests, which she is not entitled to.
    expect((await h.call(carol, "GET", "/v1/requests")).json.requests).toHaveLength(1);
  });

  it("answers whoami and healthz", async () => {
    expect(await h.call(carol, "GET", "/v1/whoami")).toEqual({
      status: 200,
      json: { subject: "user:carol@example.com", groups: ["support"] },
    });
    expect(await h.call(undefined, "GET", "/healthz")).toEqual({ status: 200, json: { status: "ok" } });
  });

  it("keeps one intact hash chain over every state change", async () => {
    await h.call(alice, "POST", "/v1/requests", { action: "env", target: STAGING, reason: "a" });
    const p = (await h.call(alice, "POST", "/v1/requests", { action: "env", target: PROD, reason: "b" })).json
      .request.id;
    await h.call(bob, "POST", `/v1/requests/${p}/approve`, {});
    await h.controller.dispatcher.whenIdle();
    const audit = await h.controller.store.listAudit();
    expect(audit.map((r) => r.seq)).toEqual(audit.map((_, i) => i + 1));
    expect(findBrokenLink(audit)).toBeUndefined();
    expect(audit[0]!.event).toBe("controller.started");
    expect(audit[0]!.details.policyDigest).toBe(h.controller.policy.digest);
    expect(audit.filter((r) => r.event === "token.issued")).toHaveLength(4);
    // No token value ever reaches the trail.
    expect(JSON.stringify(audit)).not.toMatch(/kh_[0-9a-f]{16}_/);
  });
});
