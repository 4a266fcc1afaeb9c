/**
 * Break-glass reviews: every break-glass use opens one; it stays open until someone other than the
 * user closes it with a note. Open reviews older than the configured age are reported loudly: one
 * `review.overdue` audit record and a warning per review, a summary warning at most hourly, and a
 * flag in every listing.
 */
import type { FastifyBaseLogger } from "fastify";
import { ControllerError } from "../errors.js";
import type { Principal } from "../identity/principal.js";
import { sameSubject } from "../identity/subject.js";
import { evaluate } from "../policy/evaluate.js";
import type { Policy } from "../policy/load-policy.js";
import { canSee, listVisible } from "../policy/visibility.js";
import type { ReviewRecord, Store } from "../store/types.js";
import type { Announcement } from "./webhook.js";

export interface ReviewServiceDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly controllerId: string;
  /** Age at which an open review is overdue. */
  readonly overdueSeconds: number;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** Announces reviews that go overdue (the approval webhook); optional. */
  readonly announce?: ((announcement: Announcement) => void) | undefined;
}

export interface ReviewView {
  id: string;
  requestId: string;
  status: "open" | "closed";
  subject: string;
  action: string;
  target: string;
  environment: string;
  reason: string;
  ticket: string;
  openedAt: string;
  /** Open longer than the configured age. */
  overdue: boolean;
  closedAt?: string;
  closedBy?: string;
  note?: string;
}

const SUMMARY_EVERY_MS = 3_600_000;

export class ReviewService {
  private readonly deps: ReviewServiceDeps;
  private lastSummaryAt = Number.NEGATIVE_INFINITY;

  constructor(deps: ReviewServiceDeps) {
    this.deps = deps;
  }

  get overdueSeconds(): number {
    return this.deps.overdueSeconds;
  }

  /** The view of a review at `now`. */
  view(r: ReviewRecord, now = this.deps.now()): ReviewView {
    const iso = (ms: number) => new Date(ms).toISOString();
    const open = r.closedAt === undefined;
    return {
      id: r.id,
      requestId: r.requestId,
      status: open ? "open" : "closed",
      subject: r.subject,
      action: r.action,
      target: r.target,
      environment: r.environment,
      reason: r.reason,
      ticket: r.ticket,
      openedAt: iso(r.openedAt),
      overdue: open && this.isOverdue(r, now),
      ...(r.closedAt === undefined ? {} : { closedAt: iso(r.closedAt) }),
      ...(r.closedBy === undefined ? {} : { closedBy: r.closedBy }),
      ...(r.note === undefined ? {} : { note: r.note }),
    };
  }

  /** Reviews the caller may see (their own, or ones they could close), newest first. */
  async list(who: Principal, query: { status?: "open" | "closed"; limit: number }): Promise<ReviewRecord[]> {
    return listVisible(
      query.limit,
      (before) => this.deps.store.listReviews({ status: query.status, limit: query.limit, before }),
      async (record) => canSee(this.deps.policy, who, await this.owned(record)),
    );
  }

  /**
   * Closes a review with a note. Refused for its own user (KH_SELF_REVIEW), for someone not allowed
   * everything the break-glass request needed in its environment, params included (KH_POLICY_DENIED),
   * and once closed (KH_REVIEW_CLOSED).
   */
  async close(who: Principal, id: string, note: string): Promise<ReviewRecord> {
    const found = await this.deps.store.getReview(id);
    const owned = found && (await this.owned(found));
    if (!found || !owned || !canSee(this.deps.policy, who, owned))
      throw new ControllerError("KH_NOT_FOUND", `no review "${id}"`);
    const review = found;
    if (review.closedAt !== undefined)
      throw new ControllerError("KH_REVIEW_CLOSED", `review "${id}" was closed by ${review.closedBy}`);
    if (sameSubject(review.subject, who.subject))
      throw new ControllerError(
        "KH_SELF_REVIEW",
        "someone other than the break-glass user must close its review",
      );
    if (
      owned.params === undefined ||
      !evaluate(this.deps.policy, who, review.action, review.environment, owned.params).allowed
    ) {
      throw new ControllerError(
        "KH_POLICY_DENIED",
        `${who.subject} is not allowed "${review.action}" in "${review.environment}", so cannot close its review`,
      );
    }
    const at = this.deps.now();
    const closed = await this.deps.store.closeReview({ id, by: who.subject, note, at }, [
      {
        actor: who.subject,
        event: "review.closed",
        requestId: review.requestId,
        details: {
          reviewId: id,
          breakGlassSubject: review.subject,
          openedAt: new Date(review.openedAt).toISOString(),
          openSeconds: Math.round((at - review.openedAt) / 1000),
          note,
        },
        ticket: review.ticket,
      },
    ]);
    const after = (await this.deps.store.getReview(id))!;
    if (!closed)
      throw new ControllerError("KH_REVIEW_CLOSED", `review "${id}" was closed by ${after.closedBy}`);
    return after;
  }

  /**
   * Finds open reviews past the overdue age: each is recorded once (`review.overdue`) with a warning;
   * while any stays open, a summary warning repeats at most hourly. Returns how many are overdue.
   */
  async reportOverdue(): Promise<number> {
    const { store, log, overdueSeconds } = this.deps;
    const now = this.deps.now();
    const overdue = await store.listReviews({
      status: "open",
      // Strictly before, so +1: a review exactly overdueSeconds old counts, as in isOverdue.
      openedBefore: now - overdueSeconds * 1000 + 1,
      limit: 500,
    });
    for (const { record } of overdue) {
      if (record.overdueAt !== undefined) continue;
      const ageSeconds = Math.round((now - record.openedAt) / 1000);
      const marked = await store.markReviewOverdue(record.id, now, [
        {
          actor: `controller:${this.deps.controllerId}`,
          event: "review.overdue",
          requestId: record.requestId,
          details: {
            reviewId: record.id,
            breakGlassSubject: record.subject,
            environment: record.environment,
            openedAt: new Date(record.openedAt).toISOString(),
            ageSeconds,
            overdueAfterSeconds: overdueSeconds,
          },
          ticket: record.ticket,
        },
      ]);
      if (marked) {
        const request = this.deps.announce ? await store.getRequest(record.requestId) : undefined;
        this.deps.announce?.({
          kind: "review-overdue",
          review: record,
          overdueAfterSeconds: overdueSeconds,
          request,
        });
        log.warn(
          { reviewId: record.id, requestId: record.requestId, subject: record.subject, ageSeconds },
          "break-glass review overdue: close it with `keyhole review close ID --note …`",
        );
      }
    }
    if (overdue.length > 0 && now - this.lastSummaryAt >= SUMMARY_EVERY_MS) {
      this.lastSummaryAt = now;
      log.warn(
        { overdueReviews: overdue.length, overdueAfterSeconds: overdueSeconds },
        "break-glass reviews are open past their age: see `keyhole reviews`",
      );
    }
    return overdue.length;
  }

  /** A review is owned like its break-glass request: the request's params decide who may see it. */
  private async owned(
    review: ReviewRecord,
  ): Promise<ReviewRecord & { params: Record<string, unknown> | undefined }> {
    const request = await this.deps.store.getRequest(review.requestId);
    return { ...review, params: request?.params };
  }

  private isOverdue(r: ReviewRecord, now: number): boolean {
    return now - r.openedAt >= this.deps.overdueSeconds * 1000;
  }
}
