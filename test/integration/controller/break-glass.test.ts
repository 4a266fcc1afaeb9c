import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../../controller/audit/chain.js";
import { type CapturedLog, captureLog } from "../../helpers/capture-log.js";
import { type Harness, startHarness } from "./helpers.js";

const GOVERNANCE_POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120, breakGlass: true, breakGlassCooldownSeconds: 600 }
  staging: { approvals: 0 }
  restricted: { approvals: 1 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support"], role: support, environments: [production] }
`;

// Tokens are minted on the wall clock, so the controller's clock starts there.
const T0 = Math.floor(Date.now() / 1000) * 1000;
const PROD = "production/shop/shop-0";

describe("break-glass", () => {
  let h: Harness;
  let log: CapturedLog;
  let clock: number;
  let alice: string;
  let bob: string;
  let carol: string;
  beforeEach(async () => {
    clock = T0;
    log = captureLog();
    h = await startHarness({
      policy: GOVERNANCE_POLICY,
      now: () => clock,
      config: { reviewOverdueHours: 2 },
      runtime: { logger: log.logger },
    });
    // Long-lived tokens: the tests move the controller's clock forward by hours.
    alice = await h.token("user:alice@example.com", ["sre"], "365d");
    bob = await h.token("user:bob@example.com", ["sre"], "365d");
    carol = await h.token("user:carol@example.com", ["support"], "365d");
  });
  afterEach(async () => {
    await h?.close();
  });

  const breakGlass = (token: string, overrides: Record<string, unknown> = {}) =>
    h.call(token, "POST", "/v1/requests", {
      action: "env",
      target: PROD,
      reason: "INC-77 payments down",
      ticket: "INC-77",
      breakGlass: true,
      ...overrides,
    });

  it("runs at once where the environment allows it: the envelope says breakGlass, a review opens, all audited", async () => {
    const created = await breakGlass(alice);
    expect(created.status).toBe(201);
    expect(created.json.request).toMatchObject({
      status: "approved",
      breakGlass: true,
      approvalsRequired: 1,
    });
    await h.controller.dispatcher.whenIdle();
    const id = created.json.request.id;
    expect((await h.call(alice, "GET", `/v1/requests/${id}`)).json.request.status).toBe("completed");
    const claims = h.agents.production!.received.at(-1)!;
    expect(claims).toMatchObject({ breakGlass: true, approvals: [], ticket: "INC-77", env: "production" });

    const audit = (await h.controller.store.listAudit()).filter((r) => r.requestId === id);
    expect(audit.map((r) => r.event)).toEqual([
      "request.created",
      "breakglass.used",
      "request.approved",
      "request.dispatched",
      "request.completed",
    ]);
    expect(audit[1]).toMatchObject({
      actor: "user:alice@example.com",
      ticket: "INC-77",
      reason: "INC-77 payments down",
    });
    expect(audit[2]!.details).toMatchObject({ breakGlass: true, automatic: true });
    expect(log.lines().some((l) => l.level === 40 && /break-glass used/.test(l.msg))).toBe(true);

    const reviews = await h.call(bob, "GET", "/v1/reviews");
    expect(reviews.json).toMatchObject({ overdue: 0, overdueAfterSeconds: 7200 });
    expect(reviews.json.reviews).toEqual([
      expect.objectContaining({
        requestId: id,
        status: "open",
        subject: "user:alice@example.com",
        overdue: false,
      }),
    ]);
    // The user sees their own review; someone not entitled to the action there does not.
    expect((await h.call(alice, "GET", "/v1/reviews")).json.reviews).toHaveLength(1);
    expect((await h.call(carol, "GET", "/v1/reviews")).json.reviews).toHaveLength(0);
  });

  it("is refused where the environment forbids it, without a ticket, and for a subject not entitled to the action", async () => {
    const forbidden = await breakGlass(alice, { target: "restricted/shop/shop-0" });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.error.code).toBe("KH_BREAK_GLASS_FORBIDDEN");
    const noTicket = await breakGlass(alice, { ticket: undefined });
    expect(noTicket.status).toBe(400);
    expect(noTicket.json.error.code).toBe("KH_BAD_REQUEST");
    // Break-glass skips approval, never entitlement: carol's role does not include env.
    const unentitled = await breakGlass(carol);
    expect(unentitled.status).toBe(403);
    expect(unentitled.json.error.code).toBe("KH_POLICY_DENIED");

    expect((await h.controller.store.listRequests({ limit: 10 })).length).toBe(0);
    expect(h.agents.restricted!.received).toHaveLength(0);
    const refused = (await h.controller.store.listAudit()).filter((r) => r.event === "request.refused");
    expect(refused.map((r) => r.details.code ?? "policy")).toEqual(["KH_BREAK_GLASS_FORBIDDEN", "policy"]);
    expect(await h.controller.store.listReviews({ limit: 10 })).toHaveLength(0);
  });

  it("holds each subject to the cooldown, and lets them again after it", async () => {
    expect((await breakGlass(alice)).status).toBe(201);
    clock += 60_000;
    const again = await breakGlass(alice, { target: "production/shop/shop-0" });
    expect(again.status).toBe(429);
    expect(again.json.error.code).toBe("KH_BREAK_GLASS_COOLDOWN");
    expect(again.json.error.message).toContain(new Date(T0 + 600_000).toISOString());
    expect((await breakGlass(bob)).status).toBe(201); // another subject is not held
    clock = T0 + 600_000;
    expect((await breakGlass(alice)).status).toBe(201);
    await h.controller.dispatcher.whenIdle();
    const refused = (await h.controller.store.listAudit()).filter((r) => r.event === "request.refused");
    expect(refused.map((r) => r.details.code)).toEqual(["KH_BREAK_GLASS_COOLDOWN"]);
    expect(await h.controller.store.listReviews({ limit: 10 })).toHaveLength(3);
  });

  it("is closed only by someone else entitled, with a note, once", async () => {
    const id = (await breakGlass(alice)).json.request.id;
    await h.controller.dispatcher.whenIdle();
    const [review] = (await h.call(bob, "GET", "/v1/reviews")).json.reviews;
    const close = (token: string, body: unknown) =>
      h.call(token, "POST", `/v1/reviews/${review.id}/close`, body);

    const self = await close(alice, { note: "all fine" });
    expect([self.status, self.json.error.code]).toEqual([403, "KH_SELF_REVIEW"]);
    const outsider = await close(carol, { note: "all fine" });
    expect([outsider.status, outsider.json.error.code]).toEqual([404, "KH_NOT_FOUND"]);
    const noNote = await close(bob, { note: "  " });
    expect([noNote.status, noNote.json.error.code]).toEqual([400, "KH_BAD_REQUEST"]);

    clock += 30 * 60_000;
    const closed = await close(bob, { note: "checked INC-77: env read to confirm the rotated DB password" });
    expect(closed.status).toBe(200);
    expect(closed.json.review).toMatchObject({
      status: "closed",
      closedBy: "user:bob@example.com",
      note: "checked INC-77: env read to confirm the rotated DB password",
      overdue: false,
    });
    const twice = await close(bob, { note: "again" });
    expect([twice.status, twice.json.error.code]).toEqual([409, "KH_REVIEW_CLOSED"]);
    expect((await h.call(bob, "GET", "/v1/reviews")).json.reviews).toHaveLength(0);
    expect((await h.call(bob, "GET", "/v1/reviews?status=closed")).json.reviews).toHaveLength(1);

    const audit = await h.controller.store.listAudit();
    const closedRecord = audit.find((r) => r.event === "review.closed")!;
    expect(closedRecord).toMatchObject({ actor: "user:bob@example.com", requestId: id, ticket: "INC-77" });
    expect(closedRecord.details).toMatchObject({
      reviewId: review.id,
      breakGlassSubject: "user:alice@example.com",
      openSeconds: 1800,
    });
    expect(findBrokenLink(audit)).toBeUndefined();
  });

  it("reports open reviews past their age loudly: flagged in the listing, audited once, logged as a warning", async () => {
    await breakGlass(alice);
    clock += 60_000;
    await breakGlass(bob);
    await h.controller.dispatcher.whenIdle();
    expect(await h.controller.reviews.reportOverdue()).toBe(0);

    clock = T0 + 2 * 3600_000 + 30_000; // alice's is 2 h old, bob's not yet
    expect(await h.controller.reviews.reportOverdue()).toBe(1);
    expect(await h.controller.reviews.reportOverdue()).toBe(1);
    const listing = (await h.call(bob, "GET", "/v1/reviews")).json;
    expect(listing.overdue).toBe(1);
    expect(listing.reviews.map((r: { subject: string; overdue: boolean }) => [r.subject, r.overdue])).toEqual(
      [
        ["user:bob@example.com", false],
        ["user:alice@example.com", true],
      ],
    );
    const overdue = (await h.controller.store.listAudit()).filter((r) => r.event === "review.overdue");
    expect(overdue).toHaveLength(1);
    expect(overdue[0]!.details).toMatchObject({
      breakGlassSubject: "user:alice@example.com",
      overdueAfterSeconds: 7200,
    });
    const warnings = log.lines().filter((l) => l.level === 40 && /overdue|past their age/.test(l.msg));
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings.some((l) => l.reviewId !== undefined)).toBe(true);
  });
});
