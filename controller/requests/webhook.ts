/**
 * The approval webhook: a Slack-compatible incoming webhook (`POST` of `{"text": "…"}`) that announces
 * requests waiting for approval, every break-glass use and every break-glass review that goes overdue. Delivery is best effort and off the request
 * path: a slow or failing receiver is logged and never fails or delays the request it announces.
 * The URL usually carries a secret (Slack's do), so only its origin is ever logged.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RequestRecord, ReviewRecord } from "../store/types.js";

export type Announcement =
  | { readonly kind: "pending"; readonly request: RequestRecord }
  | { readonly kind: "break-glass"; readonly request: RequestRecord; readonly reviewId: string }
  | { readonly kind: "review-overdue"; readonly review: ReviewRecord; readonly overdueAfterSeconds: number };

/** The request an announcement is about, for the log. */
function requestIdOf(announcement: Announcement): string {
  return announcement.kind === "review-overdue" ? announcement.review.requestId : announcement.request.id;
}

/** The message text of an announcement: who, what, where, why, and the command that acts on it. */
export function announcementText(announcement: Announcement): string {
  if (announcement.kind === "review-overdue") {
    const v = announcement.review;
    const hours = Math.round(announcement.overdueAfterSeconds / 360) / 10;
    return (
      `keyhole: break-glass review ${v.id} is OVERDUE: ${v.subject} ran ${v.action} on ${v.target} in ${v.environment} ` +
      `(ticket ${v.ticket}) at ${new Date(v.openedAt).toISOString()}, and nobody has reviewed it in ${hours} h: ` +
      `keyhole review close ${v.id} --note …`
    );
  }
  const r = announcement.request;
  const ticket = r.ticket ? ` (ticket ${r.ticket})` : "";
  if (announcement.kind === "pending") {
    return (
      `keyhole: ${r.subject} asks to run ${r.action} on ${r.target} in ${r.environment}${ticket}: "${r.reason}". ` +
      `Needs ${r.approvalsRequired} approval(s) by ${new Date(r.expiresAt).toISOString()}: ` +
      `keyhole approve ${r.id}  or  keyhole deny ${r.id} --reason …`
    );
  }
  return (
    `keyhole BREAK-GLASS: ${r.subject} ran ${r.action} on ${r.target} in ${r.environment} without approval${ticket}: ` +
    `"${r.reason}". Review ${announcement.reviewId} stays open until someone else closes it: ` +
    `keyhole review close ${announcement.reviewId} --note …`
  );
}

export interface Webhook {
  announce(announcement: Announcement): void;
  /** Waits for deliveries in flight (each is bounded by its timeout). */
  close(): Promise<void>;
}

/** A webhook poster. `timeoutMs` bounds each delivery (default 5 s). */
export function createWebhook(
  url: string,
  log: FastifyBaseLogger,
  options: { timeoutMs?: number } = {},
): Webhook {
  const origin = new URL(url).origin;
  const inflight = new Set<Promise<void>>();
  const deliver = async (announcement: Announcement): Promise<void> => {
    const requestId = requestIdOf(announcement);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: announcementText(announcement) }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        redirect: "error",
      });
      // Drain the body so the connection is released.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok)
        log.warn(
          { requestId, webhook: origin, status: response.status },
          "approval webhook refused the announcement",
        );
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      log.warn({ requestId, webhook: origin, reason }, "approval webhook could not be reached");
    }
  };
  return {
    announce(announcement) {
      const run = deliver(announcement).finally(() => inflight.delete(run));
      inflight.add(run);
    },
    async close() {
      await Promise.all([...inflight]);
    },
  };
}
