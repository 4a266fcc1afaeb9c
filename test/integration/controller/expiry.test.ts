import { afterEach, describe, expect, it, vi } from "vitest";
import { findBrokenLink } from "../../../controller/audit/chain.js";
import { type Harness, startHarness, TEST_POLICY } from "./helpers.js";

const SHORT_POLICY = TEST_POLICY.replace(
  "production: { approvals: 1, maxTtlSeconds: 120 }",
  "production: { approvals: 1, maxTtlSeconds: 120, pendingTtlSeconds: 60 }",
);

describe("pending expiry", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await h?.close();
    h = undefined;
  });

  it("the sweeper expires a pending request after its pending TTL, and it can no longer be approved", async () => {
    // Only Date and the interval timers are faked: SQLite, sockets and promises run for real.
    vi.useFakeTimers({ toFake: ["Date", "setInterval", "clearInterval"] });
    h = await startHarness({ policy: SHORT_POLICY, config: { sweepIntervalSeconds: 5 } });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const bob = await h.token("user:bob@example.com", ["sre"]);
    const id = (
      await h.call(alice, "POST", "/v1/requests", {
        action: "env",
        target: "production/shop/shop-0",
        reason: "r",
      })
    ).json.request.id;

    await vi.advanceTimersByTimeAsync(55_000);
    expect((await h.call(alice, "GET", `/v1/requests/${id}`)).json.request.status).toBe("pending");
    await vi.advanceTimersByTimeAsync(10_000);
    // The sweep runs on that tick; on PostgreSQL its queries are real I/O still under way here.
    await vi.waitFor(async () =>
      expect((await h!.call(alice, "GET", `/v1/requests/${id}`)).json.request.status).toBe("expired"),
    );

    const late = await h.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(late.status).toBe(410);
    expect(late.json.error.code).toBe("KH_REQUEST_EXPIRED");
    const audit = await h.controller.store.listAudit();
    expect(audit.filter((r) => r.requestId === id).map((r) => [r.event, r.actor])).toEqual([
      ["request.created", "user:alice@example.com"],
      ["request.expired", "controller:keyhole-controller"],
    ]);
    expect(findBrokenLink(audit)).toBeUndefined();
    expect(h.agents.production!.received).toHaveLength(0);
  });

  it("an approval that arrives after the expiry but before a sweep is refused with 410 and expires the request", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    h = await startHarness({ policy: SHORT_POLICY, now: () => now, config: { sweepIntervalSeconds: 3600 } });
    // Tokens are issued with the real clock (8h), comfortably covering the fake minute below.
    now = Date.now();
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const bob = await h.token("user:bob@example.com", ["sre"]);
    const id = (
      await h.call(alice, "POST", "/v1/requests", {
        action: "env",
        target: "production/shop/shop-0",
        reason: "r",
      })
    ).json.request.id;
    now += 60_000;
    const late = await h.call(bob, "POST", `/v1/requests/${id}/approve`, {});
    expect(late.json.error.code).toBe("KH_REQUEST_EXPIRED");
    const deny = await h.call(bob, "POST", `/v1/requests/${id}/deny`, { reason: "too late anyway" });
    expect(deny.json.error.code).toBe("KH_REQUEST_EXPIRED");
    expect((await h.call(alice, "GET", `/v1/requests/${id}`)).json.request.status).toBe("expired");
    // A sweep finds nothing more to do: the request moved exactly once.
    expect(await h.controller.requests.expireStale()).toBe(0);
    const expired = (await h.controller.store.listAudit()).filter((r) => r.event === "request.expired");
    expect(expired).toHaveLength(1);
  });

  it("refuses an expired token", async () => {
    let now = Date.now();
    h = await startHarness({ now: () => now });
    const alice = await h.token("user:alice@example.com", ["sre"], "30m");
    expect((await h.call(alice, "GET", "/v1/whoami")).status).toBe(200);
    now += 31 * 60_000;
    const expired = await h.call(alice, "GET", "/v1/whoami");
    expect(expired.status).toBe(401);
    expect(expired.json.error.code).toBe("KH_UNAUTHENTICATED");
  });
});
