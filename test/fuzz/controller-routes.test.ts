/**
 * The quick fuzz pass of every controller route (bench/fuzz.ts holds the property; `npm run bench
 * -- fuzz` runs ≥ 10,000 cases): random methods, path params, queries, bodies (deep, duplicate keys,
 * prototype tricks, wrong types, huge numbers) and auth headers against a real controller (SQLite
 * file, real keys) dispatching to real agents on loopback. Never a 5xx; requests stored equal the
 * 201 answers; the agents ran exactly the completed requests; the audit chain verifies.
 */
import { describe, expect, it } from "vitest";
import { describeStats, fuzzController } from "../../bench/fuzz.js";
import { findBrokenLink } from "../../controller/audit/chain.js";
import { startHarness } from "../integration/controller/helpers.js";

describe("controller fuzz (quick pass)", () => {
  it("answers every route's random and adversarial input with a coded 4xx, and creates only what it answered 201", async () => {
    const [stats] = await fuzzController(600);
    console.log(describeStats(stats!));
    expect(Object.keys(stats!.statuses).every((status) => Number(status) < 500)).toBe(true);
    // Some valid requests got through and ran, so the property saw both sides.
    expect(stats!.accepted).toBeGreaterThan(3);
  });
});

describe("found by the fuzz", () => {
  it("a lone UTF-16 surrogate in a reason is refused (it made the audit chain unverifiable: stored as U+FFFD, hashed as itself)", async () => {
    const h = await startHarness();
    try {
      const alice = await h.token("user:alice@example.com", ["sre"]);
      const body = { action: "process-info", target: "production/shop/shop-0", reason: "x\ud800y" };
      const refused = await h.call(alice, "POST", "/v1/requests", body);
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({ code: "KH_BAD_REQUEST" });
      expect(refused.json.error.message).toContain("body.reason");
      const key = await h.call(alice, "POST", "/v1/requests", {
        ...body,
        reason: "ok",
        params: { "\udc00": 1 },
      });
      expect(key.status).toBe(400);
      // A well-formed pair (an emoji) is fine.
      const ok = await h.call(alice, "POST", "/v1/requests", { ...body, reason: "looks fine 😀" });
      expect(ok.status).toBe(201);
      expect(findBrokenLink(await h.controller.store.listAudit({}))).toBeUndefined();
    } finally {
      await h.close();
    }
  });

  it("a console page's refusal carries its code in a header (seed 940750243: POST /ui/logout with a bearer and JSON answered an uncoded page)", async () => {
    const h = await startHarness();
    try {
      const res = await h.controller.app.inject({
        method: "POST",
        url: "/ui/logout",
        headers: {
          authorization: "Bearer kh_bf518fcaaf74e084_A2kj8aBh4lS9IvwqAMTAbLmsiVwm6yU6zBtQn3ZkVks",
          "content-type": "application/json",
        },
        payload: '{"__proto__":{"admin":true},"action":"process-info"}',
      });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.headers["x-keyhole-error"]).toMatch(/^KH_[A-Z_]+$/);
      expect(res.body).toContain(String(res.headers["x-keyhole-error"]));
    } finally {
      await h.close();
    }
  });
});
