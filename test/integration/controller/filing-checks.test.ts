/**
 * "Bad requests reach an approver before anything checks them" (issue 16): in production,
 * `keyhole run nosuchaction`, `log-tail lines=abc bogus=1` and `cpu-profile seconds=600` were queued
 * for approval and refused only by the agent after a second person approved. The controller now
 * checks the action and its params against the wire contract (protocol/actions.ts) when a request or
 * a collection is filed: a coded 400 that creates nothing. Driven through the real `keyhole` CLI
 * against a listening controller, as the review did, and through the API.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKeyhole } from "../../../cli/demo/processes.js";
import { type Harness, startHarness } from "./helpers.js";

let h: Harness;
let url = "";
let alice = "";
let bob = "";

beforeAll(async () => {
  h = await startHarness({ environments: ["production", "staging"] });
  await h.controller.app.listen({ host: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${(h.controller.app.server.address() as AddressInfo).port}`;
  alice = await h.token("user:alice@example.com", ["sre"]);
  bob = await h.token("user:bob@example.com", ["sre"]);
});
afterAll(() => h?.close());

const PROD = "production/shop/shop-0";
const filed = async () =>
  (await h.controller.store.listAudit()).filter(
    (r) => r.event === "request.created" || r.event === "collection.created",
  ).length;

describe("bad requests reach an approver", () => {
  it("bad requests reach an approver: `keyhole run` of an unknown action or bad params is refused when filed, and nothing is queued", async () => {
    const before = await filed();
    const env = { PATH: process.env.PATH, KEYHOLE_URL: url, KEYHOLE_TOKEN: alice };
    const cases: [string[], string, RegExp][] = [
      [["run", "nosuchaction"], "KH_UNKNOWN_ACTION", /"nosuchaction" is not an action/],
      [
        ["run", "log-tail", "--param", "file=/var/log/app.log", "--param", "lines=abc", "--param", "bogus=1"],
        "KH_BAD_PARAMS",
        /invalid params for log-tail: .*lines/,
      ],
      [
        ["run", "cpu-profile", "--param", "seconds=600"],
        "KH_BAD_PARAMS",
        /invalid params for cpu-profile: seconds/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const result = await runKeyhole([...args, "--target", PROD, "--reason", "INC-7 review"], env, 30_000);
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toContain(code);
      expect(result.stderr).toMatch(message);
    }
    // Nothing was filed, nothing waits for bob.
    expect(await filed()).toBe(before);
    const pending = await h.call(bob, "GET", "/v1/requests?status=pending");
    expect(pending.json.requests).toEqual([]);
    expect(h.agents.production!.received).toHaveLength(0);
  });

  it("bad requests reach an approver: bundles, break-glass and collections are checked the same way", async () => {
    const before = await filed();
    const ask = (body: Record<string, unknown>) =>
      h.call(alice, "POST", "/v1/requests", { target: PROD, reason: "INC-7", ...body });
    const answers = [
      await ask({
        action: "bundle",
        params: { actions: [{ action: "cpu-profile", params: { seconds: 600 } }] },
      }),
      await ask({ action: "bundle", params: { actions: [{ action: "bundle", params: { actions: [] } }] } }),
      await ask({ action: "bundle", params: { actions: [{ action: "nosuchaction" }] } }),
      await ask({ action: "heap-snapshot", params: { redact: "no" } }),
      await ask({ action: "env", params: { verbose: true }, breakGlass: true, ticket: "INC-7" }),
      // A heap snapshot only streams; env only answers inline.
      await ask({ action: "heap-snapshot", params: {}, output: "inline" }),
      await ask({ action: "env", params: {}, output: "stream" }),
      await h.call(alice, "POST", "/v1/collections", {
        action: "log-tail",
        selector: "app=shop",
        params: { file: "/var/log/app.log", lines: 100_000 },
        reason: "INC-7",
      }),
      await h.call(alice, "POST", "/v1/collections", {
        action: "nosuchaction",
        selector: "app=shop",
        reason: "x",
      }),
    ];
    expect(answers.map((a) => [a.status, a.json.error?.code])).toEqual([
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_BAD_PARAMS"],
      [400, "KH_UNKNOWN_ACTION"],
    ]);
    expect(await filed()).toBe(before);
    // A good one still goes through, and the agent receives exactly the params that were filed.
    const good = await ask({ action: "log-tail", params: { file: "/var/log/app.log", lines: 20 } });
    expect(good.status, JSON.stringify(good.json)).toBe(201);
  });
});
