/**
 * The store contract of the governance methods (issue 6): break-glass requests with their cooldown,
 * reviews, closing and overdue marking. A function of a store factory, so the same cases run against
 * every Store implementation (SQLite here; PostgreSQL where it is available).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../../controller/audit/chain.js";
import type { NewRequest, ReviewRecord, Store } from "../../../controller/store/types.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const HOUR = 3_600_000;

function breakGlassRequest(id: string, subject = "user:alice@example.com", at = T0): NewRequest {
  return {
    id,
    status: "approved",
    subject,
    action: "env",
    target: "production/shop/shop-0",
    environment: "production",
    params: {},
    reason: "INC-9 outage",
    ticket: "INC-9",
    approvalsRequired: 1,
    createdAt: at,
    expiresAt: at + HOUR,
    breakGlass: true,
  };
}

function reviewOf(request: NewRequest, id = `rv-${request.id}`): ReviewRecord {
  return {
    id,
    requestId: request.id,
    subject: request.subject,
    action: request.action,
    target: request.target,
    environment: request.environment,
    reason: request.reason,
    ticket: request.ticket ?? "",
    openedAt: request.createdAt,
    closedAt: undefined,
    closedBy: undefined,
    note: undefined,
    overdueAt: undefined,
  };
}

export interface OpenedStore {
  readonly store: Store;
  close(): Promise<void>;
}

/** Registers the governance contract cases for one store implementation. */
export function governanceStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name}: break-glass requests and reviews`, () => {
    let opened: OpenedStore;
    let store: Store;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened.close();
    });

    const used = (requestId: string) => [
      { actor: "user:alice@example.com", event: "request.created" as const, requestId },
      { actor: "user:alice@example.com", event: "breakglass.used" as const, requestId },
    ];

    it("files the request approved with breakGlass and its open review, in one step", async () => {
      const request = breakGlassRequest("bg1");
      expect(
        await store.createBreakGlassRequest(request, reviewOf(request), used("bg1"), T0, T0 - HOUR),
      ).toEqual({ kind: "created" });
      const stored = await store.getRequest("bg1");
      expect(stored).toMatchObject({ status: "approved", breakGlass: true, ticket: "INC-9" });
      expect(await store.getReview("rv-bg1")).toEqual(reviewOf(request));
      expect((await store.listAudit()).map((r) => r.event)).toEqual(["request.created", "breakglass.used"]);
      // An ordinary request reads back without break-glass.
      await store.createRequest(
        { ...breakGlassRequest("plain"), breakGlass: undefined, status: "pending" },
        [],
        T0,
      );
      expect((await store.getRequest("plain"))?.breakGlass).toBe(false);
    });

    it("refuses a second use inside the cooldown and writes nothing for it; other subjects are not held", async () => {
      const first = breakGlassRequest("bg1", "user:alice@example.com", T0);
      await store.createBreakGlassRequest(first, reviewOf(first), used("bg1"), T0, T0 - HOUR);
      const again = breakGlassRequest("bg2", "user:alice@example.com", T0 + 60_000);
      expect(
        await store.createBreakGlassRequest(
          again,
          reviewOf(again),
          used("bg2"),
          T0 + 60_000,
          T0 + 60_000 - HOUR,
        ),
      ).toEqual({ kind: "cooldown", lastAt: T0 });
      expect(await store.getRequest("bg2")).toBeUndefined();
      expect(await store.getReview("rv-bg2")).toBeUndefined();
      expect(await store.listAudit()).toHaveLength(2);

      const bob = breakGlassRequest("bg3", "user:bob@example.com", T0 + 60_000);
      expect(
        await store.createBreakGlassRequest(bob, reviewOf(bob), used("bg3"), T0 + 60_000, T0 + 60_000 - HOUR),
      ).toEqual({ kind: "created" });
      // After the cooldown, alice may again.
      const later = breakGlassRequest("bg4", "user:alice@example.com", T0 + 2 * HOUR);
      expect(
        await store.createBreakGlassRequest(later, reviewOf(later), used("bg4"), T0 + 2 * HOUR, T0 + HOUR),
      ).toEqual({ kind: "created" });
    });

    it("lets exactly one of many racing uses of one subject through", async () => {
      const attempts = Array.from({ length: 8 }, (_, i) => breakGlassRequest(`race${i}`));
      const outcomes = await Promise.all(
        attempts.map((r) => store.createBreakGlassRequest(r, reviewOf(r), used(r.id), T0, T0 - HOUR)),
      );
      expect(outcomes.filter((o) => o.kind === "created")).toHaveLength(1);
      expect(await store.listReviews({ limit: 50 })).toHaveLength(1);
    });

    it("closes a review once, lists open and closed ones newest first with a cursor", async () => {
      for (const [i, subject] of [
        "user:a@example.com",
        "user:b@example.com",
        "user:c@example.com",
      ].entries()) {
        const r = breakGlassRequest(`bg${i}`, subject, T0 + i * 1000);
        await store.createBreakGlassRequest(r, reviewOf(r), used(r.id), T0 + i * 1000, T0 - HOUR);
      }
      const closeAudit = [{ actor: "user:bob@example.com", event: "review.closed" as const }];
      expect(
        await store.closeReview(
          { id: "rv-bg1", by: "user:bob@example.com", note: "looked fine", at: T0 + HOUR },
          closeAudit,
        ),
      ).toBe(true);
      expect(
        await store.closeReview(
          { id: "rv-bg1", by: "user:carol@example.com", note: "again", at: T0 + 2 * HOUR },
          closeAudit,
        ),
      ).toBe(false);
      expect(await store.closeReview({ id: "nope", by: "x", note: "n", at: T0 }, closeAudit)).toBe(false);
      expect(await store.getReview("rv-bg1")).toMatchObject({
        closedAt: T0 + HOUR,
        closedBy: "user:bob@example.com",
        note: "looked fine",
      });
      expect((await store.listReviews({ status: "open", limit: 10 })).map((r) => r.record.id)).toEqual([
        "rv-bg2",
        "rv-bg0",
      ]);
      expect((await store.listReviews({ status: "closed", limit: 10 })).map((r) => r.record.id)).toEqual([
        "rv-bg1",
      ]);
      const page1 = await store.listReviews({ limit: 2 });
      expect(page1.map((r) => r.record.id)).toEqual(["rv-bg2", "rv-bg1"]);
      const page2 = await store.listReviews({ limit: 2, before: page1.at(-1)!.cursor });
      expect(page2.map((r) => r.record.id)).toEqual(["rv-bg0"]);
      expect(
        (await store.listReviews({ status: "open", openedBefore: T0 + 1500, limit: 10 })).map(
          (r) => r.record.id,
        ),
      ).toEqual(["rv-bg0"]);
      expect((await store.listAudit()).filter((r) => r.event === "review.closed")).toHaveLength(1);
    });

    it("marks an open review overdue once, never a closed one", async () => {
      for (const id of ["bg1", "bg2"]) {
        const r = breakGlassRequest(id, `user:${id}@example.com`);
        await store.createBreakGlassRequest(r, reviewOf(r), used(id), T0, T0 - HOUR);
      }
      const overdue = [{ actor: "controller:test", event: "review.overdue" as const }];
      expect(await store.markReviewOverdue("rv-bg1", T0 + 25 * HOUR, overdue)).toBe(true);
      expect(await store.markReviewOverdue("rv-bg1", T0 + 26 * HOUR, overdue)).toBe(false);
      expect((await store.getReview("rv-bg1"))?.overdueAt).toBe(T0 + 25 * HOUR);
      await store.closeReview({ id: "rv-bg2", by: "user:bob@example.com", note: "ok", at: T0 + HOUR }, []);
      expect(await store.markReviewOverdue("rv-bg2", T0 + 25 * HOUR, overdue)).toBe(false);
      const audit = await store.listAudit();
      expect(audit.filter((r) => r.event === "review.overdue")).toHaveLength(1);
      expect(findBrokenLink(audit)).toBeUndefined();
    });
  });
}
