/**
 * The collections API through `buildApp()` on a real controller (SQLite, keys) with the harness's
 * small verifying agents: bad input, refusals and their audit records, defaults, the rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../controller/helpers.js";

let h: Harness;
let alice = "";
let carol = "";
let erin = "";
let dave = "";

beforeAll(async () => {
  h = await startHarness({ config: { rateLimitPerMinute: 8 } });
  alice = await h.token("user:alice@example.com", ["sre"]);
  carol = await h.token("user:carol@example.com", []);
  // Each test that counts toward the per-subject limit has its own subject.
  erin = await h.token("user:erin@example.com", ["sre"]);
  dave = await h.token("user:dave@example.com", ["sre"]);
});
afterAll(() => h?.close());

const body = (overrides: Record<string, unknown> = {}) => ({
  action: "process-info",
  selector: "app=shop",
  environment: "staging",
  reason: "test: collections API",
  ...overrides,
});

describe("POST /v1/collections", () => {
  it("refuses bad input with the field named, and stores nothing", async () => {
    for (const [input, message] of [
      [body({ selector: "app=sh op" }), /not a label value/],
      [body({ selector: " " }), /body\.selector/],
      [body({ maxErrors: "12x" }), /--max-errors must be a count/],
      [body({ maxConcurrency: 0 }), /body\.maxConcurrency/],
      [body({ colour: "red" }), /unknown field "colour"/],
      [
        body({ selector: "app=shop", environment: undefined }),
        /several environments \(production, restricted, staging\)/,
      ],
    ] as const) {
      const { status, json } = await h.call(erin, "POST", "/v1/collections", input);
      expect(status, JSON.stringify(json)).toBe(400);
      expect(json.error.code).toBe("KH_BAD_REQUEST");
      expect(json.error.message).toMatch(message);
    }
    expect((await h.call(erin, "GET", "/v1/collections")).json.collections).toEqual([]);
  });

  it("says when nothing matches, and audits policy refusals", async () => {
    const none = await h.call(alice, "POST", "/v1/collections", body({ selector: "app=nothing" }));
    expect(none.status).toBe(404);
    expect(none.json.error.code).toBe("KH_NO_TARGETS");
    const denied = await h.call(carol, "POST", "/v1/collections", body({ action: "env" }));
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe("KH_POLICY_DENIED");
    const refused = (await h.controller.store.listAudit()).filter((r) => r.event === "collection.refused");
    expect(refused.map((r) => [r.actor, r.details.code])).toEqual([
      // From the first test: a selector spanning environments is refused after resolving it.
      ["user:erin@example.com", "KH_BAD_REQUEST"],
      ["user:alice@example.com", "KH_NO_TARGETS"],
      ["user:carol@example.com", "KH_POLICY_DENIED"],
    ]);
  });

  it("runs heavy actions one at a time and streams heap snapshots by default", async () => {
    const { status, json } = await h.call(
      alice,
      "POST",
      "/v1/collections",
      body({ action: "heap-snapshot", environment: "production" }),
    );
    expect(status).toBe(201);
    expect(json.collection).toMatchObject({
      maxConcurrency: 1,
      output: "stream",
      status: "pending",
      maxErrors: "unlimited",
    });
    const light = await h.call(alice, "POST", "/v1/collections", body({ maxErrors: "50%" }));
    expect(light.json.collection).toMatchObject({
      maxConcurrency: 10,
      output: "inline",
      errorBudget: 0,
      maxErrors: "50%",
    });
  });

  it("limits how many collections one subject files per minute", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await h.call(dave, "POST", "/v1/collections", body())).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 201, 201, 429]);
    const { json } = await h.call(dave, "POST", "/v1/collections", body());
    expect(json.error.code).toBe("KH_RATE_LIMITED");
    // Reading is not limited.
    expect((await h.call(dave, "GET", "/v1/collections")).status).toBe(200);
    await h.controller.fleet.collections.whenIdle();
  });
});
