import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./helpers.js";

describe("GET /v1/policy/explain", () => {
  let h: Harness;
  let carol: string;
  beforeAll(async () => {
    h = await startHarness();
    carol = await h.token("user:carol@example.com", ["support"]);
  });
  afterAll(async () => {
    await h?.close();
  });

  const explain = (token: string | undefined, query: string) =>
    h.call(token, "GET", `/v1/policy/explain?${query}`);

  it("explains the live policy for a target, resolving its environment from the inventory", async () => {
    const answer = await explain(
      carol,
      "subject=user:dan@example.com&groups=sre&action=env&target=production/shop/shop-0",
    );
    expect(answer.status).toBe(200);
    expect(answer.json.explanation).toMatchObject({
      allowed: true,
      environment: "production",
      target: "production/shop/shop-0",
      binding: { index: 0, role: "sre", matchedSubject: "group:sre" },
      environmentRules: { approvals: 1 },
      policy: { digest: h.controller.policy.digest },
    });
  });

  it("uses the caller's own groups when they ask about themselves without groups", async () => {
    const own = await explain(
      carol,
      "subject=user:carol@example.com&action=process-info&target=staging/shop/shop-0",
    );
    expect(own.json.explanation).toMatchObject({ allowed: true, groups: ["support"] });
    const other = await explain(
      carol,
      "subject=user:erin@example.com&action=process-info&target=staging/shop/shop-0",
    );
    expect(other.json.explanation).toMatchObject({ allowed: false, groups: [] });
  });

  it("refuses unknown targets, bad subjects and unauthenticated callers", async () => {
    const unknown = await explain(carol, "subject=user:a@b.c&action=env&target=nowhere/x");
    expect([unknown.status, unknown.json.error.code]).toEqual([404, "KH_UNKNOWN_TARGET"]);
    const bad = await explain(carol, "subject=alice&action=env&target=staging/shop/shop-0");
    expect([bad.status, bad.json.error.code]).toEqual([400, "KH_BAD_REQUEST"]);
    const extra = await explain(carol, "subject=user:a@b.c&action=env&target=staging/shop/shop-0&verbose=1");
    expect([extra.status, extra.json.error.code]).toEqual([400, "KH_BAD_REQUEST"]);
    const anonymous = await explain(undefined, "subject=user:a@b.c&action=env&target=staging/shop/shop-0");
    expect(anonymous.status).toBe(401);
  });
});
