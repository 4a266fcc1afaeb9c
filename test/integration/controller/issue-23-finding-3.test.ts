/**
 * Issue 23, finding 3: a policy reload did not re-check requests in flight. A request filed under the
 * old policy ran after a reload that removed the requester's role and raised approvals from 1 to 2,
 * on one approval. Now the decision is re-checked where it takes effect: a reload ends what the new
 * policy refuses (coded, audited with `stage: "policy-reload"`), and the dispatcher checks the
 * requester and the approvals in force (the stricter of filed and now) right before signing.
 * A real controller (real SQLite, real keys, real reloads from the file) and fake agents on loopback
 * that count every envelope they receive.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { LivePolicy } from "../../../controller/policy/live-policy.js";
import { parsePolicy } from "../../../controller/policy/load-policy.js";
import { type Harness, startHarness } from "./helpers.js";

const PRODUCTION = "production/shop/shop-0";

const POLICY = `environments:
  production: { approvals: 1, pendingTtlSeconds: 600 }
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info, env] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support"], role: support, environments: [production] }
`;
/** The reviewed change: carol's group loses its role, and production needs two approvals. */
const NO_SUPPORT_TWO_APPROVALS = POLICY.replace(
  '  - { subjects: ["group:support"], role: support, environments: [production] }\n',
  "",
).replace("production: { approvals: 1,", "production: { approvals: 2,");
/** Only the approvals raised: carol keeps her right. */
const TWO_APPROVALS = POLICY.replace("production: { approvals: 1,", "production: { approvals: 2,");

describe("issue 23 finding 3: a policy reload re-checks requests and collections in flight", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await h?.close();
    h = undefined;
  });

  async function start() {
    h = await startHarness({
      policy: POLICY,
      environments: ["production", "staging"],
      runtime: { watchPolicy: false },
    });
    return {
      carol: await h.token("user:carol@example.com", ["support"]),
      bob: await h.token("user:bob@example.com", ["sre"]),
    };
  }

  async function reload(policy: string): Promise<string> {
    await writeFile(join(h!.dir, "policy.yaml"), policy);
    const outcome = await h!.controller.reloadPolicy("sighup");
    expect(outcome).toMatchObject({ kind: "loaded" });
    return outcome!.digest!;
  }

  async function file(token: string): Promise<string> {
    const created = await h!.call(token, "POST", "/v1/requests", {
      action: "env",
      target: PRODUCTION,
      reason: "INC-23 config",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    return created.json.request.id as string;
  }

  const eventsOf = async (id: string) =>
    (await h!.controller.store.listAudit()).filter((r) => r.requestId === id);

  it("the reviewed case: role removed and approvals raised 1→2 by a reload, then one approval: never runs, the audit says why", async () => {
    const { carol, bob } = await start();
    const id = await file(carol);
    const digest = await reload(NO_SUPPORT_TWO_APPROVALS);

    // The reload itself ended it, before anyone approved.
    const ended = (await h!.controller.store.getRequest(id))!;
    expect(ended.status).toBe("failed");
    expect(ended.error?.code).toBe("KH_REQUESTER_NOT_ENTITLED");
    const failed = (await eventsOf(id)).find((r) => r.event === "request.failed");
    expect(failed?.details).toMatchObject({
      code: "KH_REQUESTER_NOT_ENTITLED",
      stage: "policy-reload",
      policyDigest: digest,
      was: "pending",
    });
    expect(String(failed?.details.message)).toContain("no longer allows it");

    const approve = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect([approve.status, approve.json.error?.code]).toEqual([409, "KH_INVALID_STATE"]);
    await h!.controller.dispatcher.whenIdle();
    expect(h!.agents.production!.received).toHaveLength(0);
    expect((await eventsOf(id)).map((r) => r.event)).toEqual(["request.created", "request.failed"]);
  });

  it("an approved request waiting for dispatch when a reload raises approvals 1→2 is ended by the reload, never signed", async () => {
    const { carol, bob } = await start();
    // The window between approval and dispatch (a busy controller, a restart in between).
    const schedule = vi.spyOn(h!.controller.dispatcher, "schedule").mockImplementation(() => {});
    const id = await file(carol);
    const approved = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(approved.json.request?.status).toBe("approved");
    const digest = await reload(TWO_APPROVALS);

    const request = (await h!.controller.store.getRequest(id))!;
    expect(request.status).toBe("failed");
    expect(request.error?.code).toBe("KH_APPROVALS_INSUFFICIENT");
    expect(request.error?.message).toMatch(/has 1 approval\(s\), and the policy in force requires 2/);
    const failed = (await eventsOf(id)).find((r) => r.event === "request.failed");
    expect(failed?.details).toMatchObject({ stage: "policy-reload", policyDigest: digest, was: "approved" });

    // A restart then dispatches what is left approved: nothing.
    schedule.mockRestore();
    await h!.controller.requests.start({ sweepIntervalMs: 60_000 });
    await h!.controller.dispatcher.whenIdle();
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("the dispatcher itself refuses to sign an approved request short of the approvals in force", async () => {
    const { carol, bob } = await start();
    const schedule = vi.spyOn(h!.controller.dispatcher, "schedule").mockImplementation(() => {});
    const id = await file(carol);
    expect((await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {})).json.request?.status).toBe(
      "approved",
    );
    // The policy in force changes without the reload's sweep (another replica reloaded first, say).
    (h!.controller.policy as LivePolicy).replace(parsePolicy(TWO_APPROVALS, "policy.yaml"));
    schedule.mockRestore();
    await h!.controller.dispatcher.dispatch(id);

    const request = (await h!.controller.store.getRequest(id))!;
    expect([request.status, request.error?.code]).toEqual(["failed", "KH_APPROVALS_INSUFFICIENT"]);
    const failed = (await eventsOf(id)).find((r) => r.event === "request.failed");
    expect(failed?.details).toMatchObject({ code: "KH_APPROVALS_INSUFFICIENT", stage: "dispatch" });
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("a pending request that only needs more approvals now stays pending and needs them", async () => {
    const { carol, bob } = await start();
    const id = await file(carol);
    await reload(TWO_APPROVALS);
    expect((await h!.controller.store.getRequest(id))!.status).toBe("pending");
    const first = await h!.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(first.json.request).toMatchObject({ status: "pending", approvalsRequired: 2 });
    await h!.controller.dispatcher.whenIdle();
    expect(h!.agents.production!.received).toHaveLength(0);
  });

  it("a pending collection whose requester lost the role is ended by the reload, audited", async () => {
    const { carol } = await start();
    const created = await h!.call(carol, "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=shop",
      environment: "production",
      reason: "INC-23 fleet",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.collection.id as string;
    const digest = await reload(NO_SUPPORT_TWO_APPROVALS);

    const collection = (await h!.controller.store.fleet.getCollection(id))!;
    expect(collection.status).toBe("denied");
    const denied = (await h!.controller.store.listAudit()).find(
      (r) => r.event === "collection.denied" && r.details.collectionId === id,
    );
    expect(denied?.details).toMatchObject({
      code: "KH_REQUESTER_NOT_ENTITLED",
      stage: "policy-reload",
      policyDigest: digest,
    });
  });
});
