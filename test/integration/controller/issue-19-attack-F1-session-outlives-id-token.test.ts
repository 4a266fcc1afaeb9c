/**
 * Console attack F1: the console's token form took a raw OIDC ID token and opened an 8-hour session
 * on it, so a session outlived the credential that made it. A session now ends no later than the
 * ID token's `exp` (and a controller token's expiry), whichever way it was opened.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestIssuer, type TestIssuer } from "../../helpers/oidc-issuer.js";
import { consoleLogin } from "./console-session.js";
import { type Harness, startHarness } from "./helpers.js";

describe("issue-19-attack-F1-session-outlives-id-token", () => {
  let issuer: TestIssuer;
  let h: Harness;
  let skew = 0;
  beforeAll(async () => {
    issuer = await startTestIssuer();
    h = await startHarness({
      config: { oidcIssuer: issuer.url, oidcAudience: "keyhole", oidcGroupsClaim: "groups" },
      now: () => Date.now() + skew,
    });
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
  });

  it("a session opened with a raw ID token ends at the token's exp, not 8 hours later", async () => {
    const exp = Math.floor(Date.now() / 1000) + 120;
    const login = await consoleLogin(h.controller.app, await issuer.idToken({ exp }));
    expect(login.status, login.body).toBe(303);
    expect(login.cookie).toBeDefined();
    // The cookie itself says so: two minutes at most, not 8 hours.
    expect(login.maxAge).toBeLessThanOrEqual(120);
    const inbox = () => h.controller.app.inject({ url: "/ui/inbox", headers: { cookie: login.cookie! } });
    expect((await inbox()).statusCode).toBe(200);
    // Three minutes on (well inside the idle limit of 15): the ID token is dead, so is the session.
    skew = 60_000;
    expect((await inbox()).statusCode).toBe(200);
    skew = 180_000;
    const after = await inbox();
    expect(after.statusCode).toBe(303);
    expect(after.headers.location).toMatch(/^\/ui\/login\?/);
  });

  it("a session opened with a controller token ends at the token's expiry", async () => {
    skew = 0;
    const token = await h.token("user:bob@example.com", ["sre"], "2m");
    const login = await consoleLogin(h.controller.app, token);
    expect(login.status, login.body).toBe(303);
    expect(login.maxAge).toBeLessThanOrEqual(120);
  });
});
