import { afterEach, describe, expect, it } from "vitest";
import { closedPortUrl, type Harness, startHarness } from "./helpers.js";

describe("dispatch outcomes other than success", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function runStaging(target = "staging/shop/shop-0") {
    const alice = await h!.token("user:alice@example.com", ["sre"]);
    const created = await h!.call(alice, "POST", "/v1/requests", {
      action: "log-tail",
      target,
      params: { file: "/etc/shadow" },
      reason: "r",
    });
    expect(created.status).toBe(201);
    await h!.controller.dispatcher.whenIdle();
    const id = created.json.request.id as string;
    const { json } = await h!.call(alice, "GET", `/v1/requests/${id}`);
    const audit = (await h!.controller.store.listAudit()).filter((r) => r.requestId === id);
    return { request: json.request, audit };
  }

  it("records the agent's refusal code when the agent refuses", async () => {
    h = await startHarness({ environments: ["staging", "production", "restricted"] });
    h.agents.staging!.respond = () => ({
      status: 403,
      body: { error: { code: "KH_PATH_DENIED", message: "outside the log roots" } },
    });
    const { request, audit } = await runStaging();
    expect(request.status).toBe("failed");
    expect(request.error).toEqual({ code: "KH_PATH_DENIED", message: "outside the log roots" });
    expect(request.result).toBeUndefined();
    const failed = audit.at(-1)!;
    expect(failed.event).toBe("request.failed");
    expect(failed.details).toMatchObject({ code: "KH_PATH_DENIED", httpStatus: 403 });
  });

  it("fails with KH_AGENT_BAD_RESPONSE when the agent answers without a coded error", async () => {
    h = await startHarness();
    h.agents.staging!.respond = () => ({ status: 500, body: { oops: true } });
    const { request } = await runStaging();
    expect(request.error.code).toBe("KH_AGENT_BAD_RESPONSE");
  });

  it("fails with KH_AGENT_UNREACHABLE when nothing listens at the agent's URL", async () => {
    h = await startHarness({
      extraInventory: `- { id: staging/gone-0, environment: staging, url: "${await closedPortUrl()}" }\n`,
    });
    const { request, audit } = await runStaging("staging/gone-0");
    expect(request.status).toBe("failed");
    expect(request.error.code).toBe("KH_AGENT_UNREACHABLE");
    expect(audit.map((r) => r.event)).toEqual([
      "request.created",
      "request.approved",
      "request.dispatched",
      "request.failed",
    ]);
  });

  it("fails with KH_AGENT_TIMEOUT when the agent takes longer than the dispatch timeout", async () => {
    h = await startHarness({ config: { dispatchTimeoutSeconds: 1 } });
    h.agents.staging!.respond = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return { status: 200, body: {} };
    };
    const { request } = await runStaging();
    expect(request.status).toBe("failed");
    expect(request.error.code).toBe("KH_AGENT_TIMEOUT");
  });

  it("dispatches requests left approved by a previous run when it starts again", async () => {
    h = await startHarness();
    const { store } = h.controller;
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const at = Date.now();
    await store.createRequest(
      {
        id: "left-behind-1",
        status: "approved",
        subject: "user:alice@example.com",
        action: "process-info",
        target: "staging/shop/shop-0",
        environment: "staging",
        params: {},
        reason: "crash test",
        ticket: undefined,
        approvalsRequired: 0,
        createdAt: at,
        expiresAt: at + 3_600_000,
        // Dispatch checks the requester's entitlement again: a real token and its groups.
        requester: { groups: ["sre"], credential: { kind: "token", id: alice.split("_")[1]! } },
      },
      // The records the controller writes when it files and auto-approves it: the dispatcher signs
      // only what the chain approves (issue 23, finding 5).
      [
        {
          actor: "user:alice@example.com",
          event: "request.created",
          requestId: "left-behind-1",
          details: {
            action: "process-info",
            target: "staging/shop/shop-0",
            environment: "staging",
            params: {},
            approvalsRequired: 0,
          },
        },
        {
          actor: "controller:keyhole-controller",
          event: "request.approved",
          requestId: "left-behind-1",
          details: { automatic: true, approvals: 0, approvalsRequired: 0, status: "approved" },
        },
      ],
      at,
    );
    await h.controller.requests.start({ sweepIntervalMs: 60_000 });
    await h.controller.dispatcher.whenIdle();
    expect((await store.getRequest("left-behind-1"))!.status).toBe("completed");
    expect(h.agents.staging!.received).toHaveLength(1);
    // Starting again does not dispatch it twice.
    await h.controller.requests.start({ sweepIntervalMs: 60_000 });
    await h.controller.dispatcher.whenIdle();
    expect(h.agents.staging!.received).toHaveLength(1);
  });

  it("close() waits for a dispatch in flight", async () => {
    h = await startHarness();
    let release!: () => void;
    h.agents.staging!.respond = async (claims) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return { status: 200, body: { requestId: claims.jti } };
    };
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const id = (
      await h.call(alice, "POST", "/v1/requests", {
        action: "env",
        target: "staging/shop/shop-0",
        reason: "r",
      })
    ).json.request.id;
    while (h.agents.staging!.received.length === 0) await new Promise((r) => setTimeout(r, 10));
    const store = h.controller.store;
    let closed = false;
    const closing = h.controller.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    expect((await store.getRequest(id))!.status).toBe("dispatched");
    release();
    await closing;
    expect(closed).toBe(true);
  });
});
