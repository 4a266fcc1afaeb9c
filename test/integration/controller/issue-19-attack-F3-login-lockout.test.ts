/**
 * Console attack F3: every login attempt counted against its address, so junk posted through the same
 * address (an ingress: all browsers behind it are one address) locked the real users out for the
 * minute. Only failures count now; a credential that has not failed is still checked from a noisy
 * address; sessions opened per subject are limited too (controller/console/login-limits.ts).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleLogin } from "./console-session.js";
import { type Harness, startHarness } from "./helpers.js";

const junk = () => `kh_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;

describe("issue-19-attack-F3-login-lockout", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });
  const login = (token: string, ip: string) => consoleLogin(h.controller.app, token, { ip });

  it("junk through a shared address is refused, and the real user behind it still signs in", async () => {
    const bob = await h.token("user:bob@example.com", ["sre"]);
    const proxy = "10.1.0.1";
    const answers: number[] = [];
    for (let i = 0; i < 14; i++) answers.push((await login(junk(), proxy)).status);
    // Ten failures are checked and refused; the address is then over its budget.
    expect(answers.slice(0, 10)).toEqual(Array(10).fill(401));
    const over = await login("not a token at all", proxy);
    expect(over.status).toBe(429);
    expect(over.code).toBe("KH_RATE_LIMITED");
    // Bob's own token has not failed: it is checked, and he is signed in.
    const real = await login(bob, proxy);
    expect(real.status, real.body).toBe(303);
    expect(real.cookie).toBeDefined();
  });

  it("an attack on one credential spends that credential's budget; from elsewhere its owner still signs in", async () => {
    const dave = await h.token("user:dave@example.com", ["sre"]);
    const [, id] = dave.split("_");
    const aimed = () => `kh_${id}_${randomBytes(32).toString("base64url")}`;
    const proxy = "10.2.0.1";
    for (let i = 0; i < 10; i++) expect((await login(junk(), proxy)).status).toBe(401);
    // Wrong secrets for dave's id: checked while that id has failed fewer than 5 times.
    const aimedAnswers: number[] = [];
    for (let i = 0; i < 7; i++) aimedAnswers.push((await login(aimed(), proxy)).status);
    expect(aimedAnswers).toEqual([401, 401, 401, 401, 401, 429, 429]);
    // Elsewhere the address budget is untouched: dave signs in.
    expect((await login(dave, "10.3.0.1")).status).toBe(303);
  });

  it("successful sign-ins are not failures, and per subject at most 20 sessions a minute are opened", async () => {
    const carol = await h.token("user:carol@example.com", ["support"]);
    const answers: number[] = [];
    for (let i = 0; i < 22; i++) answers.push((await login(carol, "10.4.0.1")).status);
    expect(answers.slice(0, 20)).toEqual(Array(20).fill(303));
    expect(answers.slice(20)).toEqual([429, 429]);
    // The subject's limit is not the address's: someone else there still signs in.
    const erin = await h.token("user:erin@example.com", ["sre"]);
    expect((await login(erin, "10.4.0.1")).status).toBe(303);
  });
});
