import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CapturedLog, captureLog } from "../../helpers/capture-log.js";
import { startTestIssuer, type TestIssuer } from "../../helpers/oidc-issuer.js";
import { closedPortUrl, type Harness, startHarness } from "./helpers.js";

describe("OIDC ID tokens from a real issuer on loopback", () => {
  let issuer: TestIssuer;
  let other: TestIssuer;
  let h: Harness;
  let log: CapturedLog;
  beforeAll(async () => {
    issuer = await startTestIssuer();
    other = await startTestIssuer();
    log = captureLog();
    h = await startHarness({
      config: { oidcIssuer: issuer.url, oidcAudience: "keyhole", oidcGroupsClaim: "groups" },
      // No refetch cooldown, so the rotation case does not wait 30 s.
      runtime: { logger: log.logger, oidcTiming: { cooldownMs: 0 } },
    });
  });
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
    await other?.close();
  });

  const whoami = (token: string) => h.call(token, "GET", "/v1/whoami");

  it("maps a valid ID token to user:<email> and group:<name>, and the policy sees them", async () => {
    const token = await issuer.idToken({ email: "Alice@Example.com" });
    expect(await whoami(token)).toEqual({
      status: 200,
      json: { subject: "user:alice@example.com", groups: ["sre", "oncall"] },
    });
    const created = await h.call(token, "POST", "/v1/requests", {
      action: "process-info",
      target: "staging/shop/shop-0",
      reason: "OIDC check",
    });
    expect(created.status).toBe(201);
    expect(created.json.request.subject).toBe("user:alice@example.com");
    await h.controller.dispatcher.whenIdle();
    expect(h.agents.staging!.received.at(-1)?.sub).toBe("user:alice@example.com");
  });

  it("discovers the issuer at start and logs it", async () => {
    expect(log.lines().some((l) => l.msg === "OIDC discovery done" && l.issuer === issuer.url)).toBe(true);
  });

  it("refuses ID tokens while the issuer cannot be discovered, and says so; controller tokens still work", async () => {
    const downLog = captureLog();
    const down = await startHarness({
      config: { oidcIssuer: await closedPortUrl(), oidcAudience: "keyhole" },
      runtime: { logger: downLog.logger, oidcTiming: { cooldownMs: 0 } },
    });
    try {
      const answer = await down.call(await issuer.idToken(), "GET", "/v1/whoami");
      expect([answer.status, answer.json.error.code]).toEqual([401, "KH_UNAUTHENTICATED"]);
      const automation = await down.token("svc:ci", ["sre"]);
      expect((await down.call(automation, "GET", "/v1/whoami")).status).toBe(200);
      expect(downLog.lines().some((l) => l.level === 40 && l.msg.startsWith("OIDC discovery failed"))).toBe(
        true,
      );
    } finally {
      await down.close();
    }
  });

  it("keeps controller-issued tokens working beside it (automation)", async () => {
    const token = await h.token("svc:ci-pipeline", ["sre"]);
    expect(await whoami(token)).toEqual({
      status: 200,
      json: { subject: "svc:ci-pipeline", groups: ["sre"] },
    });
  });

  it("refuses a token of another issuer, and one that claims our issuer but is signed by another's key", async () => {
    expect((await whoami(await other.idToken())).status).toBe(401);
    expect((await whoami(await other.idToken({ iss: issuer.url }))).status).toBe(401);
  });

  it("refuses expired, wrongly signed, wrong-audience and email-less tokens", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = {
      expired: await issuer.idToken({ iat: now - 900, exp: now - 120 }),
      // Right kid, wrong key: the signature does not verify against the published key.
      wronglySigned: await issuer.idToken({}, { key: "unpublished", kid: issuer.currentKid }),
      wrongAudience: await issuer.idToken({ aud: "another-app" }),
      noEmail: await issuer.idToken({ email: undefined }),
      unverifiedEmail: await issuer.idToken({ email_verified: false }),
      // An access token of the same issuer is not an ID token.
      accessToken: await issuer.idToken({}, { typ: "at+jwt" }),
      // A tampered payload keeps the old signature.
      tampered: (await issuer.idToken()).replace(/\.([^.]+)\./, (_m, p: string) => {
        const claims = JSON.parse(Buffer.from(p, "base64url").toString());
        return `.${Buffer.from(JSON.stringify({ ...claims, email: "mallory@example.com" })).toString("base64url")}.`;
      }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const answer = await whoami(token);
      expect({ name, status: answer.status, code: answer.json.error.code }).toEqual({
        name,
        status: 401,
        code: "KH_UNAUTHENTICATED",
      });
    }
    // Each refusal says why in the log, and no token ever reaches it.
    const reasons = log
      .lines()
      .filter((l) => l.msg === "ID token refused")
      .map((l) => l.oidc);
    expect(reasons).toEqual(
      expect.arrayContaining([
        "ERR_JWT_EXPIRED",
        "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        "ERR_JWT_CLAIM_VALIDATION_FAILED",
      ]),
    );
    expect(reasons).toEqual(expect.arrayContaining(["no email claim", "email not verified", "typ"]));
    for (const token of Object.values(cases)) expect(log.text()).not.toContain(token.split(".")[2]);
  });

  it("follows a key rotation: a new kid is fetched once, and a retired key stops working", async () => {
    const oldToken = await issuer.idToken();
    expect((await whoami(oldToken)).status).toBe(200);
    const fetchesBefore = issuer.jwksFetches;
    // Cached: verifying again does not fetch.
    expect((await whoami(oldToken)).status).toBe(200);
    expect(issuer.jwksFetches).toBe(fetchesBefore);

    await issuer.rotate({ dropOld: true });
    const newToken = await issuer.idToken();
    expect((await whoami(newToken)).status).toBe(200);
    expect(issuer.jwksFetches).toBe(fetchesBefore + 1);
    // The refetched set no longer holds the old key.
    expect((await whoami(oldToken)).status).toBe(401);
  });
});
