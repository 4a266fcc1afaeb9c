/**
 * The approval webhook: a Slack-compatible incoming webhook (`POST` of `{"text": "…"}`) that announces
 * requests and collections waiting for approval, every break-glass use and every break-glass review
 * that goes overdue. Delivery is best effort and off the request path: a slow or failing receiver is
 * logged and never fails or delays the request it announces. The URL usually carries a secret
 * (Slack's do), so only its origin is ever logged.
 *
 * The message is what an approver decides on, so it shows everything the decision is about — action,
 * params (and the privileges they need), environment, target(s), ticket, reason, expiry — and nothing
 * a requester typed can act as markup there. Every value that comes from a request (reason, ticket,
 * params, and for good measure subjects, targets and selectors) is rendered for Slack's mrkdwn: as an
 * inline code span (no formatting, mentions or links inside), with `&`, `<` and `>` escaped (so
 * `<!channel>`, `<https://evil|click>` and `<@U123>` are text), backticks replaced (so nothing
 * closes the span), and line breaks, control, zero-width and bidirectional characters made visible
 * (so no text can start a fake line or reorder what is shown). Receivers that take Slack's format
 * and render Markdown (Mattermost, Rocket.Chat) show the same code spans.
 */
import type { FastifyBaseLogger } from "fastify";
import { privilegesOf, UNREDACTED_SUFFIX } from "../../protocol/request.js";
import { canonicalJson } from "../audit/canonical-json.js";
import type { CollectionRecord } from "../store/fleet-types.js";
import type { RequestRecord, ReviewRecord } from "../store/types.js";

export type Announcement =
  | { readonly kind: "pending"; readonly request: RequestRecord }
  | { readonly kind: "collection-pending"; readonly collection: CollectionRecord }
  | { readonly kind: "break-glass"; readonly request: RequestRecord; readonly reviewId: string }
  | {
      readonly kind: "review-overdue";
      readonly review: ReviewRecord;
      readonly overdueAfterSeconds: number;
      /** The break-glass request, for its params; absent when it cannot be read. */
      readonly request?: RequestRecord | undefined;
    };

/** The request (or collection) an announcement is about, for the log. */
function idOf(announcement: Announcement): { requestId: string } | { collectionId: string } {
  switch (announcement.kind) {
    case "review-overdue":
      return { requestId: announcement.review.requestId };
    case "collection-pending":
      return { collectionId: announcement.collection.id };
    default:
      return { requestId: announcement.request.id };
  }
}

/** Longest rendering of one value; params of a bundle of log-tails fit, a 64 KiB body does not. */
const MAX_VALUE = 1500;
/** Targets named one by one in a collection's announcement; the rest are counted. */
const MAX_TARGETS = 20;

/**
 * One value as a Slack mrkdwn inline code span that nothing inside can break out of or turn into
 * markup, a mention, a link or a new line.
 */
export function slackCode(value: string, max = MAX_VALUE): string {
  let text = value
    .replace(/\r\n|[\r\n\u2028\u2029\u0085]/g, "⏎")
    .replace(/\t/g, " ")
    // Other controls, and format characters: zero-width, bidirectional overrides and isolates.
    .replace(/[\p{Cc}\p{Cf}]/gu, "\uFFFD")
    .replace(/`/g, "\u02CB");
  if (text.length > max) text = `${text.slice(0, max)}… (${value.length - max} more characters)`;
  const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `\`${escaped.length > 0 ? escaped : " "}\``;
}

const iso = (ms: number) => new Date(ms).toISOString();
const line = (label: string, value: string) => `*${label}:* ${value}`;

/** Params as canonical JSON, and the privileges beyond the action that they need (a raw snapshot). */
function paramsLines(action: string, params: unknown): string[] {
  if (params === undefined) return [line("Params", "unknown (the request cannot be read)")];
  const out = [line("Params", slackCode(canonicalJson(params)))];
  const extra = privilegesOf(action, params).filter((p) => p !== action);
  if (extra.length > 0) out.push(line("Needs", extra.map((p) => slackCode(p)).join(", ")));
  if (extra.some((p) => p.endsWith(UNREDACTED_SUFFIX)))
    out.push(
      "*Warning:* raw memory — this snapshot is NOT masked: secrets in the target's memory leave the pod",
    );
  return out;
}

/** The lines every announcement of a request has: who, what, with which params, where, why. */
function requestLines(r: {
  subject: string;
  action: string;
  params: unknown;
  environment: string;
  target: string;
  ticket: string | undefined;
  reason: string;
}): string[] {
  return [
    line("Requester", slackCode(r.subject)),
    line("Action", slackCode(r.action)),
    ...paramsLines(r.action, r.params),
    line("Environment", slackCode(r.environment)),
    line("Target", slackCode(r.target)),
    line("Ticket", r.ticket ? slackCode(r.ticket) : "none"),
    line("Reason", slackCode(r.reason)),
  ];
}

/**
 * The message text of an announcement: one fact per line, the command that acts on it last, and —
 * when the console's public URL is known — the item's console page (deciding happens there, signed
 * in as oneself: never from the chat, whose identity is not the approver's).
 */
export function announcementText(announcement: Announcement, consoleUrl?: string): string {
  const page = (path: string) => (consoleUrl ? [line("Console", `${consoleUrl}/ui/${path}`)] : []);
  switch (announcement.kind) {
    case "pending": {
      const r = announcement.request;
      return [
        `keyhole: request ${slackCode(r.id)} needs ${r.approvalsRequired} approval(s)`,
        ...requestLines(r),
        line("Expires", `${iso(r.expiresAt)} unless approved`),
        ...page(`requests/${r.id}`),
        `Approve: ${slackCode(`keyhole approve ${r.id}`)}   Deny: ${slackCode(`keyhole deny ${r.id} --reason …`)}`,
      ].join("\n");
    }
    case "collection-pending": {
      const c = announcement.collection;
      const shown = c.targets.slice(0, MAX_TARGETS).map((t) => slackCode(t.id));
      const more = c.targets.length - shown.length;
      return [
        `keyhole: collection ${slackCode(c.id)} over ${c.targets.length} target(s) needs ${c.approvalsRequired} approval(s)`,
        line("Requester", slackCode(c.subject)),
        line("Action", slackCode(c.action)),
        ...paramsLines(c.action, c.params),
        line("Environment", slackCode(c.environment)),
        line("Selector", slackCode(c.selector)),
        line(
          "Targets",
          `${shown.join(", ")}${more > 0 ? `, and ${more} more` : ""} (digest ${slackCode(c.targetsDigest.slice(0, 16))}…)`,
        ),
        ...(c.trigger
          ? [
              line(
                "Trigger",
                `rule ${slackCode(c.trigger.rule)}, alert ${slackCode(c.trigger.alertname ?? "(unnamed)")}`,
              ),
            ]
          : []),
        line("Ticket", c.ticket ? slackCode(c.ticket) : "none"),
        line("Reason", slackCode(c.reason)),
        line("Expires", `${iso(c.expiresAt)} unless approved`),
        ...page(`collections/${c.id}`),
        `Approve: ${slackCode(`keyhole approve ${c.id}`)}   Deny: ${slackCode(`keyhole deny ${c.id} --reason …`)}`,
      ].join("\n");
    }
    case "break-glass": {
      const r = announcement.request;
      return [
        `keyhole BREAK-GLASS: request ${slackCode(r.id)} ran without approval; review ${slackCode(announcement.reviewId)} stays open until someone else closes it`,
        ...requestLines(r),
        line("Used at", iso(r.createdAt)),
        ...page("reviews"),
        `Close the review: ${slackCode(`keyhole review close ${announcement.reviewId} --note …`)}`,
      ].join("\n");
    }
    case "review-overdue": {
      const v = announcement.review;
      const hours = Math.round(announcement.overdueAfterSeconds / 360) / 10;
      return [
        `keyhole: break-glass review ${slackCode(v.id)} is OVERDUE: nobody has reviewed it in ${hours} h`,
        ...requestLines({ ...v, params: announcement.request?.params, ticket: v.ticket }),
        line("Used at", iso(v.openedAt)),
        ...page("reviews"),
        `Close the review: ${slackCode(`keyhole review close ${v.id} --note …`)}`,
      ].join("\n");
    }
  }
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
  options: { timeoutMs?: number; consoleUrl?: string | undefined } = {},
): Webhook {
  const origin = new URL(url).origin;
  const inflight = new Set<Promise<void>>();
  const deliver = async (announcement: Announcement): Promise<void> => {
    const about = idOf(announcement);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        // No previews of anything a message links to (Slack's link and media unfurling).
        body: JSON.stringify({
          text: announcementText(announcement, options.consoleUrl),
          unfurl_links: false,
          unfurl_media: false,
        }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        redirect: "error",
      });
      // Drain the body so the connection is released.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok)
        log.warn(
          { ...about, webhook: origin, status: response.status },
          "approval webhook refused the announcement",
        );
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      log.warn({ ...about, webhook: origin, reason }, "approval webhook could not be reached");
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
