/**
 * Issue 16, finding F1: entitlement was checked only when a request was filed. A request filed while
 * its requester was entitled still ran after a policy reload took the right away or after the token
 * it was filed with was revoked. A real controller (real SQLite, real keys, real policy reloads from
 * the file) and fake agents on loopback that count every envelope they are sent.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { revokeToken } from "../../../controller/identity/cli.js";
import type { LivePolicy } from "../../../controller/policy/live-policy.js";
import { parsePolicy } from "../../../controller/policy/load-policy.js";
import { type Harness, startHarness } from "./helpers.js";

const PRODUCTION = "production/shop/shop-0";

const POLICY = `environments:
  production: { approvals: 1, breakGlass: true, pendingTtlSeconds: 600 }
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info, env] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support"], role: support, environments: [production] }
  - { subjects: ["group:approvers"], role: support, environments: [production] }
`;

/** POLICY with the support role no longer allowed `env`: carol's requests lose their right. */
const SUPPORT_WITHOUT_ENV = POLICY.replace(
  "support: { actions: [process-info, env] }",
  "support: { actions: [process-info] }",
);
/** POLICY without the approvers' binding: dave loses his right to approve (carol keeps hers). */
const WITHOUT_APPROVERS = POLICY.replace(
  '  - { subjects: ["group:approvers"], role: support, environments: [production] }\n',
  "",
);
/** POLICY with break-glass no longer allowed in production. */
const NO_BREAK_GLASS = POLICY.replace("breakGlass: true", "breakGlass: false");

describe("entitlement is checked again at approval and at dispatch", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await h?.close();
    h = undefined;
  });

  async function start(): Promise<{ carol: string; bob: string; dave: string }> {
    h = await startHarness({ policy: POLICY, environments: ["production", "staging"] });
    return {
      carol: await h.token("user:carol@example.com", ["support"]),
      bob: await h.token("user:bob@example.com", ["sre"]),
      dave: await h.token("user:dave@example.com", ["approvers"]),
    };
  }

  /**
   * Puts `policy` in force without this controller's reload sweep (issue 23, finding 3, which ends
   * what the new policy refuses at once: test/integration/controller/issue-23-finding-3.test.ts), as
   * when another replica loaded it first: what these tests check is the gate at approval and at
   * dispatch behind it.
   */
  async function reload(policy: string): Promise<void> {
    await writeFile(join(h!.dir, "policy.yaml"), policy);
    (h!.controller.policy as LivePolicy).replace(parsePolicy(policy, join(h!.dir, "policy.yaml")));
  }

  async function file(token: string, extra: Record<string, unknown> = {}): Promise<string> {
    const created = await h!.call(token, "POST", "/v1/requests", {
      action: "env",
      target: PRODUCTION,
      reason: "INC-16 config",
      ...extra,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    return created.json.request.id as string;
  }

  async function eventsOf(id: string) {
    return (await h!.controller.store.listAudit()).filter((r) => r.requestId === id);
  }

  /** Holds dispatches back: the window between approval and dispatch (a crash, a busy controller). */
  function holdDispatches(): void {
    vi.spyOn(h!.controller.dispatcher, "schedule").mockImplementation(() => {});
  }

  /** Lets them go the way a restarted controller does: every request left approved is dispatched. */
  async function releaseDispatches(): Promise<void> {
    vi.restoreAllMocks();
    await h!.controller.requests.start({ sweepIntervalMs: 60_000 });
    await h!.controller.dispatcher.whenIdle();
  }

  it("attack F1: a policy reload between filing and approval makes the approval fail, nothing is dispatched, audited", async () => {
    const { carol, bob } = await start();
    const id = await file(carol);
    await reload(SUPPORT_WITHOUT_ENV);

    const approve = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect([approve.status, approve.json.error?.code]).toEqual([403, "KH_REQUESTER_NOT_ENTITLED"]);
    expect(approve.json.error.message).toContain("no longer allows it");
    await h!.controller.dispatcher.whenIdle();

    const request = (await h!.controller.store.getRequest(id))!;
    expect(request.status).toBe("failed");
    expect(request.error?.code).toBe("KH_REQUESTER_NOT_ENTITLED");
    expect(request.approvals).toEqual([]);
    expect(h!.agents.production!.received).toHaveLength(0);
    const events = await eventsOf(id);
    expect(events.map((r) => r.event)).toEqual(["request.created", "request.failed"]);
    expect(events[1]!.details).toMatchObject({
      code: "KH_REQUESTER_NOT_ENTITLED",
      stage: "approval",
      approver: "user:bob@example.com",
    });
    // It stays refused: no later approval can revive it.
    const again = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(again.json.error?.code).toBe("KH_INVALID_STATE");
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("attack F1: the requester's token revoked between filing and approval makes the approval fail, nothing is dispatched, audited", async () => {
    const { carol, bob } = await start();
    const id = await file(carol);
    const tokenId = carol.split("_")[1]!;
    await revokeToken({
      dataDir: join(h!.dir, "data"),
      ...(h!.database ? { database: h!.database } : {}),
      id: tokenId,
    });

    const approve = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect([approve.status, approve.json.error?.code]).toEqual([403, "KH_REQUESTER_NOT_ENTITLED"]);
    expect(approve.json.error.message).toContain(`token ${tokenId}`);
    expect(approve.json.error.message).toContain("revoked");
    await h!.controller.dispatcher.whenIdle();

    const request = (await h!.controller.store.getRequest(id))!;
    expect([request.status, request.error?.code]).toEqual(["failed", "KH_REQUESTER_NOT_ENTITLED"]);
    expect(h!.agents.production!.received).toHaveLength(0);
    const failed = (await eventsOf(id)).find((r) => r.event === "request.failed");
    expect(failed?.details).toMatchObject({ code: "KH_REQUESTER_NOT_ENTITLED", stage: "approval" });
    expect((await eventsOf(id)).some((r) => r.event === "request.dispatched")).toBe(false);
  });

  it("attack F1: a policy reload between approval and dispatch stops the signing, nothing is dispatched, audited", async () => {
    const { carol, bob } = await start();
    const id = await file(carol);
    holdDispatches();
    const approve = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect([approve.status, approve.json.request?.status]).toEqual([200, "approved"]);
    await reload(SUPPORT_WITHOUT_ENV);

    await releaseDispatches();
    const request = (await h!.controller.store.getRequest(id))!;
    expect([request.status, request.error?.code]).toEqual(["failed", "KH_REQUESTER_NOT_ENTITLED"]);
    expect(request.jti).toBeUndefined();
    expect(h!.agents.production!.received).toHaveLength(0);
    const events = await eventsOf(id);
    expect(events.map((r) => r.event)).toEqual(["request.created", "request.approved", "request.failed"]);
    expect(events[2]!.details).toMatchObject({ code: "KH_REQUESTER_NOT_ENTITLED", stage: "dispatch" });
  });

  it("attack F1: a token revoked between approval and dispatch stops the signing", async () => {
    const { carol, bob } = await start();
    const id = await file(carol);
    holdDispatches();
    expect((await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {})).status).toBe(200);
    await revokeToken({
      dataDir: join(h!.dir, "data"),
      ...(h!.database ? { database: h!.database } : {}),
      id: carol.split("_")[1]!,
    });

    await releaseDispatches();
    const request = (await h!.controller.store.getRequest(id))!;
    expect([request.status, request.error?.code]).toEqual(["failed", "KH_REQUESTER_NOT_ENTITLED"]);
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("attack F1: break-glass filed before break-glass was switched off is not signed", async () => {
    const { carol } = await start();
    holdDispatches();
    const id = await file(carol, { breakGlass: true, ticket: "INC-16" });
    await reload(NO_BREAK_GLASS);

    await releaseDispatches();
    const request = (await h!.controller.store.getRequest(id))!;
    expect([request.status, request.error?.code]).toEqual(["failed", "KH_REQUESTER_NOT_ENTITLED"]);
    expect(request.error?.message).toContain("break-glass");
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("attack F1: an approver whose approve right was removed cannot approve; someone still entitled can", async () => {
    const { carol, bob, dave } = await start();
    const id = await file(carol);
    await reload(WITHOUT_APPROVERS);

    // Dave may no longer see it, so it does not exist for him; it stays pending, unapproved.
    const refused = await h!.call(dave, "POST", `/v1/requests/${id}/approve`, {});
    expect([refused.status, refused.json.error?.code]).toEqual([404, "KH_NOT_FOUND"]);
    const pending = (await h!.controller.store.getRequest(id))!;
    expect([pending.status, pending.approvals]).toEqual(["pending", []]);
    expect((await eventsOf(id)).some((r) => r.event === "request.approved")).toBe(false);

    // Carol is still entitled: an approver who still is entitled approves, and it runs.
    const approved = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(approved.status).toBe(200);
    await h!.controller.dispatcher.whenIdle();
    expect((await h!.controller.store.getRequest(id))!.status).toBe("completed");
    expect(h!.agents.production!.received).toHaveLength(1);
    expect(h!.agents.production!.received[0]!.approvals).toEqual(["user:bob@example.com"]);
  });

  it("attack F1: a collection filed before a reload took the right away is refused at approval, nothing is dispatched", async () => {
    const { carol, bob } = await start();
    const created = await h!.call(carol, "POST", "/v1/collections", {
      action: "env",
      selector: "app=shop",
      environment: "production",
      reason: "INC-16 fleet config",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.collection.id as string;
    await reload(SUPPORT_WITHOUT_ENV);

    const approve = await h!.call(bob, "POST", `/v1/collections/${id}/approve`, {
      targetsDigest: created.json.collection.targetsDigest,
    });
    expect([approve.status, approve.json.error?.code]).toEqual([403, "KH_REQUESTER_NOT_ENTITLED"]);
    const collection = (await h!.controller.store.fleet.getCollection(id))!;
    expect(collection.status).toBe("denied");
    expect(collection.denial?.by).toMatch(/^controller:/);
    const denied = (await h!.controller.store.listAudit()).find(
      (r) => r.event === "collection.denied" && r.details.collectionId === id,
    );
    expect(denied?.details).toMatchObject({ code: "KH_REQUESTER_NOT_ENTITLED", stage: "approval" });
    await h!.controller.dispatcher.whenIdle();
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("attack (second pass) 1: production tightened to two approvals applies to a request already pending", async () => {
    const { carol, bob, dave } = await start();
    const id = await file(carol);
    await reload(POLICY.replace("production: { approvals: 1,", "production: { approvals: 2,"));

    const first = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    expect(first.json.request).toMatchObject({ status: "pending", approvalsRequired: 2 });
    await h!.controller.dispatcher.whenIdle();
    expect(h!.agents.production!.received).toHaveLength(0);

    const second = await h!.call(dave, "POST", `/v1/requests/${id}/approve`, {});
    expect(second.json.request?.status).toBe("approved");
    await h!.controller.dispatcher.whenIdle();
    expect(h!.agents.production!.received).toHaveLength(1);
    const approved = (await eventsOf(id)).filter((r) => r.event === "request.approved");
    expect(approved.map((r) => r.details.approvalsRequired)).toEqual([2, 2]);
  });

  it("attack (second pass) 1: a collection pending when production is tightened needs the new count", async () => {
    const { carol, bob, dave } = await start();
    const created = await h!.call(carol, "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=shop",
      environment: "production",
      reason: "INC-16 fleet",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.collection.id as string;
    await reload(POLICY.replace("production: { approvals: 1,", "production: { approvals: 2,"));
    const { targetsDigest } = created.json.collection;
    const first = await h!.call(bob, "POST", `/v1/collections/${id}/approve`, { targetsDigest });
    expect(first.json.collection).toMatchObject({ status: "pending", approvalsRequired: 2 });
    const second = await h!.call(dave, "POST", `/v1/collections/${id}/approve`, { targetsDigest });
    expect(second.json.collection?.status).not.toBe("pending");
  });
});
