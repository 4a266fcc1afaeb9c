/**
 * Console attack F4: the console's downloads (artifacts, the whole audit export, the evidence report)
 * had no rate limit while the API's artifact downloads had one, and the console took reasons and
 * notes of up to 1000 characters where the API takes 500. Both now as the API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_REASON_LENGTH } from "../../../protocol/request.js";
import { consoleCsrf, consoleLogin, consolePost } from "./console-session.js";
import { type Harness, startHarness } from "./helpers.js";

describe("issue-19-attack-F4-console-downloads", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ config: { rateLimitPerMinute: 3 } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("limits the console's downloads per subject as the API's (--rate-limit-per-minute)", async () => {
    const bob = (await consoleLogin(h.controller.app, await h.token("user:bob@example.com", ["sre"])))
      .cookie!;
    const get = (cookie: string, url: string) => h.controller.app.inject({ url, headers: { cookie } });
    // Each download route is counted apart, as the API's routes are.
    for (const url of ["/ui/audit/report.md?days=1", "/ui/audit/export.jsonl"]) {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(bob, url)).statusCode);
      expect(statuses, url).toEqual([200, 200, 200, 429]);
    }
    const refused = await get(bob, "/ui/audit/report.md");
    expect(refused.headers["x-keyhole-error"]).toBe("KH_RATE_LIMITED");
    // Per subject: someone else's downloads are their own.
    const erin = (await consoleLogin(h.controller.app, await h.token("user:erin@example.com", ["sre"])))
      .cookie!;
    expect((await get(erin, "/ui/audit/report.md")).statusCode).toBe(200);
    // Pages are not downloads.
    expect((await get(bob, "/ui/inbox")).statusCode).toBe(200);
  });

  it("refuses a deny reason or an approval note longer than the API takes", async () => {
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const filed = await h.call(alice, "POST", "/v1/requests", {
      action: "env",
      target: "production/shop/shop-0",
      params: {},
      reason: "INC-1",
    });
    expect(filed.status).toBe(201);
    const id = filed.json.request.id as string;
    const carol = await h.token("user:frank@example.com", ["sre"]);
    const cookie = (await consoleLogin(h.controller.app, carol)).cookie!;
    const csrf = await consoleCsrf(h.controller.app, cookie);
    const tooLong = "x".repeat(MAX_REASON_LENGTH + 1);
    const deny = await consolePost(h.controller.app, cookie, `/ui/requests/${id}/deny`, {
      _csrf: csrf,
      reason: tooLong,
    });
    expect(deny.statusCode).toBe(400);
    expect(deny.headers["x-keyhole-error"]).toBe("KH_BAD_REQUEST");
    const approve = await consolePost(h.controller.app, cookie, `/ui/requests/${id}/approve`, {
      _csrf: csrf,
      note: tooLong,
    });
    expect(approve.statusCode).toBe(400);
    expect((await h.call(alice, "GET", `/v1/requests/${id}`)).json.request.status).toBe("pending");
    // At the limit it is taken.
    const ok = await consolePost(h.controller.app, cookie, `/ui/requests/${id}/deny`, {
      _csrf: csrf,
      reason: "y".repeat(MAX_REASON_LENGTH),
    });
    expect(ok.statusCode).toBe(303);
  });
});
