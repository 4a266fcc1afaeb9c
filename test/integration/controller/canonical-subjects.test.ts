/**
 * Finding 5 of the outside review (issue 16): four eyes bypassed with a second credential whose
 * subject differs only in case. `user:Alice@Example.com` (a controller token) approved
 * `user:alice@example.com`'s production request: OIDC identities were lower-cased, tokens were not,
 * and every comparison was byte-wise. And an ID token without `email_verified` was accepted, with
 * identity from `email` alone. A real controller, a real OpenID provider on loopback, tokens issued
 * through the CLI path, on a real SQLite file and on PostgreSQL.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { issueToken } from "../../../controller/identity/cli.js";
import { mintToken } from "../../../controller/identity/tokens.js";
import { startTestIssuer, type TestIssuer } from "../../helpers/oidc-issuer.js";
import { type Harness, startHarness } from "./helpers.js";

const POLICY = `environments:
  production: { approvals: 1, breakGlass: true, breakGlassCooldownSeconds: 0 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["user:Carol@Example.com"], role: support, environments: ["*"] }
`;
const PROD = "production/shop/shop-0";

describe.each(["sqlite", "postgres"] as const)("finding 5 on %s", (store) => {
  let issuer: TestIssuer;
  let h: Harness | undefined;
  beforeAll(async () => {
    issuer = await startTestIssuer();
  });
  afterAll(() => issuer?.close());
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const start = async () => {
    h = await startHarness({
      policy: POLICY,
      environments: ["production"],
      store,
      config: { oidcIssuer: issuer.url, oidcAudience: "keyhole" },
      runtime: { oidcTiming: { cooldownMs: 0 } },
    });
    return h;
  };
  const ask = (harness: Harness, token: string, extra: Record<string, unknown> = {}) =>
    harness.call(token, "POST", "/v1/requests", { action: "env", target: PROD, reason: "INC-5", ...extra });

  it("finding 5: an approver whose subject differs only in case is the requester", async () => {
    const harness = await start();
    // The review's attack: alice signs in with OIDC, then approves with a token for "Alice@Example.com".
    const alice = await issuer.idToken({ email: "alice@example.com", groups: ["sre"] });
    const aliceAgain = await harness.token("user:Alice@Example.com", ["sre"]);
    const created = await ask(harness, alice);
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.request.id as string;
    const approve = await harness.call(aliceAgain, "POST", `/v1/requests/${id}/approve`, {});
    expect([approve.status, approve.json.error?.code]).toEqual([403, "KH_SELF_APPROVAL"]);
    // Nor with the prefix and groups in capitals.
    const ALICE = await harness.token("USER:ALICE@EXAMPLE.COM", ["SRE"]);
    const shouting = await harness.call(ALICE, "POST", `/v1/requests/${id}/approve`, {});
    expect([shouting.status, shouting.json.error?.code]).toEqual([403, "KH_SELF_APPROVAL"]);
    // The same person withdrawing, whichever credential: recorded as withdrawn, not as a denial.
    const withdrawn = await harness.call(aliceAgain, "POST", `/v1/requests/${id}/deny`, { reason: "oops" });
    expect(withdrawn.status).toBe(200);
    const denied = (await harness.controller.store.listAudit()).find(
      (r) => r.event === "request.denied" && r.requestId === id,
    );
    expect(denied).toMatchObject({ actor: "user:alice@example.com", details: { withdrawn: true } });
    expect(harness.agents.production!.received).toHaveLength(0);
  });

  it("finding 5: a token stored before canonicalisation is the canonical person, for approvals and reviews", async () => {
    const harness = await start();
    // A row written by an older controller: the subject as typed then.
    const legacy = mintToken(
      { subject: "user:Bob@Example.com", groups: ["SRE"], ttlSeconds: 3600 },
      Date.now(),
    );
    await harness.controller.store.insertToken(
      legacy.record,
      // What an older controller recorded (no secret hash yet): the chain still issues it.
      {
        actor: "local:test",
        event: "token.issued",
        details: {
          tokenId: legacy.record.id,
          subject: legacy.record.subject,
          groups: legacy.record.groups,
          expiresAt: new Date(legacy.record.expiresAt).toISOString(),
        },
      },
      Date.now(),
    );
    const bob = await harness.token("user:bob@example.com", ["sre"]);
    expect((await harness.call(legacy.token, "GET", "/v1/whoami")).json).toEqual({
      subject: "user:bob@example.com",
      groups: ["sre"],
    });
    const created = await ask(harness, bob);
    const approve = await harness.call(
      legacy.token,
      "POST",
      `/v1/requests/${created.json.request.id}/approve`,
    );
    expect(approve.json.error?.code).toBe("KH_SELF_APPROVAL");

    // Break-glass: bob cannot close his own review with the other credential.
    const glass = await ask(harness, bob, { breakGlass: true, ticket: "INC-6" });
    expect(glass.status, JSON.stringify(glass.json)).toBe(201);
    await harness.controller.dispatcher.whenIdle();
    const review = (await harness.call(bob, "GET", "/v1/reviews")).json.reviews[0];
    const close = await harness.call(legacy.token, "POST", `/v1/reviews/${review.id}/close`, {
      note: "fine",
    });
    expect(close.json.error?.code).toBe("KH_SELF_REVIEW");
  });

  it("finding 5: an ID token is an identity only with email_verified true", async () => {
    const harness = await start();
    for (const claims of [
      { email: "mallory@example.com", email_verified: undefined },
      { email: "mallory@example.com", email_verified: "true" },
      { email: "mallory@example.com", email_verified: false },
    ]) {
      const token = await issuer.idToken(claims);
      const answer = await harness.call(token, "GET", "/v1/whoami");
      expect([answer.status, answer.json.error?.code]).toEqual([401, "KH_UNAUTHENTICATED"]);
    }
    const verified = await issuer.idToken({ email: "Carol@Example.com", email_verified: true, groups: [] });
    expect((await harness.call(verified, "GET", "/v1/whoami")).json.subject).toBe("user:carol@example.com");
    // The binding written `user:Carol@Example.com` binds her.
    const created = await harness.call(verified, "POST", "/v1/requests", {
      action: "process-info",
      target: PROD,
      reason: "carol's check",
    });
    expect(created.status).toBe(201);
  });

  it("finding 5: a subject that does not canonicalise cleanly is refused at every entry point", async () => {
    const harness = await start();
    for (const subject of [
      "user:\u0430lice@example.com",
      "user:alice@example.com\u200b",
      " user:alice@example.com",
    ])
      await expect(
        issueToken({ dataDir: `${harness.dir}/data`, database: harness.database, subject }),
      ).rejects.toThrow(/invalid token/);
    const lookAlike = await issuer.idToken({ email: "\u0430lice@example.com", groups: ["sre"] });
    expect((await harness.call(lookAlike, "GET", "/v1/whoami")).status).toBe(401);
    const sre = await harness.token("svc:ci", ["sre"]);
    const explain = await harness.call(
      sre,
      "GET",
      `/v1/policy/explain?subject=${encodeURIComponent("user:CAROL@example.com")}&action=process-info&target=${PROD}`,
    );
    expect(explain.json.explanation).toMatchObject({ allowed: true, subject: "user:carol@example.com" });
    const bad = await harness.call(
      sre,
      "GET",
      `/v1/policy/explain?subject=${encodeURIComponent("user:c\u0430rol@example.com")}&action=env&target=${PROD}`,
    );
    expect(bad.status).toBe(400);
  });
});
