/**
 * Two controllers on one PostgreSQL database count a subject's requests together: the limit holds
 * across replicas, not once per replica. Real PostgreSQL (a private schema), real controllers.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./helpers.js";

describe("the per-subject rate limit with replicas sharing PostgreSQL", () => {
  const harnesses: Harness[] = [];
  afterEach(async () => {
    // The second replica first: the first one owns (and drops) the schema.
    for (const h of harnesses.splice(0).reverse()) await h.close();
  });

  it("counts one subject's requests across both replicas, per route, without touching others", async () => {
    const a = await startHarness({ store: "postgres", config: { rateLimitPerMinute: 3 } });
    harnesses.push(a);
    const b = await startHarness({ config: { rateLimitPerMinute: 3, database: a.database! } });
    harnesses.push(b);
    const alice = await a.token("user:alice@example.com", ["sre"]);
    const bob = await a.token("user:bob@example.com", ["sre"]);
    const ask = (h: Harness, token: string, reason: string) =>
      h.controller.app.inject({
        method: "POST",
        url: "/v1/requests",
        headers: { authorization: `Bearer ${token}` },
        payload: { action: "process-info", target: "staging/shop/shop-0", reason },
      });
    const answers = [];
    for (const [h, n] of [
      [a, 1],
      [b, 2],
      [a, 3],
    ] as const)
      answers.push((await ask(h, alice, `#${n}`)).statusCode);
    expect(answers).toEqual([201, 201, 201]);
    // The fourth, on the replica that has seen only one of them: refused all the same.
    const limited = await ask(b, alice, "#4");
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe("KH_RATE_LIMITED");
    const retryAfter = Number(limited.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await ask(a, alice, "#5")).statusCode).toBe(429);
    // Another subject has its own count.
    expect((await ask(b, bob, "bob")).statusCode).toBe(201);
    // Exactly the allowed ones were stored.
    const listed = await a.call(alice, "GET", "/v1/requests?limit=50");
    expect(listed.json.requests.map((r: { reason: string }) => r.reason).sort()).toEqual([
      "#1",
      "#2",
      "#3",
      "bob",
    ]);
  });
});
