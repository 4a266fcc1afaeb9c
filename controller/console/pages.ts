/** The console's pages, each a pure function of what its route read (no I/O here). */

import { MAX_REASON_LENGTH } from "../../protocol/request.js";
import type { AuditRecord } from "../audit/chain.js";
import type { VerifyResult } from "../audit/verify-chain.js";
import type { TargetOutcome } from "../fleet/collections.js";
import type { FleetAgent } from "../fleet/registry.js";
import type { ReviewView } from "../requests/reviews.js";
import type { CollectionRecord } from "../store/fleet-types.js";
import type { LinkedAuditRecord, RequestRecord } from "../store/types.js";
import type { DecisionOffer } from "./decide.js";
import { hasRiskyParam, iso, paramList, statusBadge, when } from "./format.js";
import { type Html, html } from "./html.js";
import { renderResult } from "./results.js";

/** The CSRF token and the time, which every page with a form or a time needs. */
export interface PageContext {
  readonly csrf: string;
  readonly now: number;
}

const csrfField = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;

type Item =
  | { readonly kind: "request"; readonly record: RequestRecord }
  | { readonly kind: "collection"; readonly record: CollectionRecord };

const pathOf = (item: Item) =>
  `/ui/${item.kind === "request" ? "requests" : "collections"}/${item.record.id}`;

function targetsOf(item: Item): Html {
  if (item.kind === "request") return html`${item.record.target}`;
  const targets = item.record.targets;
  return html`${targets.length} target(s) matching <code>${item.record.selector}</code>, frozen at filing:
<ul>${targets.map((t) => html`<li>${t.id}</li>`)}</ul>`;
}

/** The facts of an item an approver must see, in the order they read them. */
function facts(item: Item, ctx: PageContext): Html {
  const r = item.record;
  return html`<dl class="facts">
<dt>Requester</dt><dd>${r.subject}</dd>
<dt>Action</dt><dd><strong>${r.action}</strong>${hasRiskyParam(r.params) ? html` <span class="flag">unredacted</span>` : ""}</dd>
<dt>Params</dt><dd>${paramList(r.params)}</dd>
<dt>Environment</dt><dd>${r.environment}</dd>
<dt>${item.kind === "request" ? "Target" : "Targets"}</dt><dd>${targetsOf(item)}</dd>
<dt>Reason</dt><dd class="reason">${r.reason}</dd>
<dt>Ticket</dt><dd>${r.ticket ?? html`<span class="muted">none</span>`}</dd>
<dt>Status</dt><dd>${statusBadge(r.status)}${item.kind === "request" && item.record.breakGlass ? html` <span class="flag">break-glass</span>` : ""}</dd>
<dt>${r.status === "pending" ? "Expires" : "Filed"}</dt><dd>${r.status === "pending" ? when(r.expiresAt, ctx.now) : when(r.createdAt, ctx.now)}</dd>
<dt>Approvals</dt><dd>${
    r.approvals.length === 0
      ? html`<span class="muted">none yet</span> (${r.approvalsRequired} required)`
      : html`${r.approvals.map((a, i) => html`${i ? "; " : ""}${a.subject}${a.note ? html` — “${a.note}”` : ""}`)} (${r.approvalsRequired} required)`
  }</dd>
${r.denial ? html`<dt>Denied by</dt><dd>${r.denial.by}: <span class="reason">${r.denial.reason}</span></dd>` : ""}
</dl>`;
}

/** Approve and deny forms, only as far as the offer allows. */
function decisionForms(item: Item, offer: DecisionOffer, ctx: PageContext): Html {
  const base = pathOf(item);
  const id = `${item.kind}-${item.record.id}`;
  const approve = offer.cannotApprove
    ? ""
    : html`<form class="decide" method="post" action="${base}/approve">
${csrfField(ctx)}
${item.kind === "collection" ? html`<input type="hidden" name="targetsDigest" value="${item.record.targetsDigest}">` : ""}
<label for="note-${id}">Note (optional)</label>
<input type="text" id="note-${id}" name="note" maxlength="${MAX_REASON_LENGTH}" autocomplete="off">
<button class="approve" type="submit">Approve ${item.record.action} on ${item.kind === "request" ? item.record.target : `${item.record.targets.length} target(s)`}</button>
</form>`;
  const deny = offer.cannotDeny
    ? ""
    : html`<details><summary>${offer.own ? "Withdraw…" : "Deny…"}</summary><form class="decide" method="post" action="${base}/deny" data-confirm="${offer.own ? "Withdraw this request?" : "Deny this request?"}">
${csrfField(ctx)}
<label for="reason-${id}">${offer.own ? "Why withdraw" : "Reason for denying"} (required)</label>
<input type="text" id="reason-${id}" name="reason" required maxlength="${MAX_REASON_LENGTH}" autocomplete="off">
<button class="deny" type="submit">${offer.own ? "Withdraw" : "Deny"}</button>
</form></details>`;
  if (!approve && !deny) return html``;
  return html`<div class="actions">${approve}${deny}</div>`;
}

function itemCard(item: Item, offer: DecisionOffer, ctx: PageContext, heading: "h2" | "h3" = "h3"): Html {
  const title = html`<a href="${pathOf(item)}">${item.record.action} · ${item.kind === "request" ? item.record.target : `${item.record.targets.length} targets`}</a>`;
  return html`<article class="card" aria-labelledby="t-${item.record.id}">
${heading === "h2" ? html`<h2 id="t-${item.record.id}">${title}</h2>` : html`<h3 id="t-${item.record.id}">${title}</h3>`}
${facts(item, ctx)}
<p><strong>Why you may decide:</strong> ${offer.why}</p>
${decisionForms(item, offer, ctx)}
</article>`;
}

export function inboxPage(
  toDecide: readonly { item: Item; offer: DecisionOffer }[],
  mine: readonly { item: Item; offer: DecisionOffer }[],
  ctx: PageContext,
): Html {
  return html`<h1>Inbox</h1>
<section aria-labelledby="decide-h">
<h2 id="decide-h">Waiting for your decision (${toDecide.length})</h2>
${toDecide.length === 0 ? html`<p class="muted">Nothing waits for you.</p>` : toDecide.map(({ item, offer }) => itemCard(item, offer, ctx))}
</section>
<section aria-labelledby="mine-h">
<h2 id="mine-h">Yours, waiting for others (${mine.length})</h2>
${mine.length === 0 ? html`<p class="muted">None.</p>` : mine.map(({ item, offer }) => itemCard(item, offer, ctx))}
</section>`;
}

export function requestListPage(
  requests: readonly RequestRecord[],
  collections: readonly CollectionRecord[],
  status: string | undefined,
  ctx: PageContext,
): Html {
  const statuses = ["", "pending", "approved", "dispatched", "completed", "failed", "denied", "expired"];
  return html`<h1>Requests</h1>
<form method="get" action="/ui/requests" class="grid-form">
<div><label for="status">Status</label>
<select id="status" name="status">${statuses.map(
    (s) => html`<option value="${s}"${s === (status ?? "") ? html` selected` : ""}>${s || "any"}</option>`,
  )}</select></div>
<div><button type="submit">Show</button></div>
</form>
<div class="table-wrap"><table>
<caption class="muted">Requests you may see, newest first</caption>
<thead><tr><th scope="col">Request</th><th scope="col">Requester</th><th scope="col">Environment</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Filed</th></tr></thead>
<tbody>${requests.map(
    (
      r,
    ) => html`<tr><td><a href="/ui/requests/${r.id}">${r.action} · ${r.target}</a>${hasRiskyParam(r.params) ? html` <span class="flag">unredacted</span>` : ""}</td>
<td>${r.subject}</td><td>${r.environment}</td><td>${statusBadge(r.status)}</td><td class="reason">${r.reason}</td><td>${when(r.createdAt, ctx.now)}</td></tr>`,
  )}</tbody></table></div>
<h2>Collections</h2>
${
  collections.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<div class="table-wrap"><table><caption class="muted">Collections you may see, newest first</caption>
<thead><tr><th scope="col">Collection</th><th scope="col">Requester</th><th scope="col">Environment</th><th scope="col">Status</th><th scope="col">Reason</th></tr></thead>
<tbody>${collections.map(
        (c) =>
          html`<tr><td><a href="/ui/collections/${c.id}">${c.action} · ${c.selector}</a></td><td>${c.subject}</td><td>${c.environment}</td><td>${statusBadge(c.status)}</td><td class="reason">${c.reason}</td></tr>`,
      )}</tbody></table></div>`
}`;
}

function timeline(records: readonly (AuditRecord | LinkedAuditRecord)[], ctx: PageContext): Html {
  if (records.length === 0) return html`<p class="muted">No audit records.</p>`;
  return html`<ol class="timeline">${records.map((r) => {
    const details = r.details as Record<string, unknown>;
    const note = typeof details.note === "string" ? details.note : undefined;
    const code = typeof details.code === "string" ? details.code : undefined;
    return html`<li><strong>${r.event}</strong> by ${r.actor} · ${when(Date.parse(r.time), ctx.now)}
${r.reason ? html`<div class="reason">reason: ${r.reason}</div>` : ""}
${note ? html`<div class="reason">note: ${note}</div>` : ""}
${code ? html`<div>${code}${typeof details.message === "string" ? html`: ${details.message}` : ""}</div>` : ""}
<div class="muted">seq ${r.seq}</div></li>`;
  })}</ol>`;
}

export function requestPage(
  record: RequestRecord,
  offer: DecisionOffer,
  audit: readonly LinkedAuditRecord[],
  artifact: { id: string; filename: string; size: number; sha256: string } | undefined,
  ctx: PageContext,
): Html {
  const item: Item = { kind: "request", record };
  return html`<h1>Request ${record.action} · ${record.target}</h1>
<p class="muted">id ${record.id}</p>
<article class="card">
${facts(item, ctx)}
${record.status === "pending" ? html`<p><strong>Why you may decide:</strong> ${offer.why}</p>` : ""}
${decisionForms(item, offer, ctx)}
</article>
${record.error ? html`<p class="notice error">${record.error.code}: ${record.error.message}</p>` : ""}
<h2>Result</h2>
${
  record.result !== undefined
    ? renderResult(record.result)
    : artifact
      ? html``
      : html`<p class="muted">${record.status === "completed" ? "No inline result." : "No result yet."}</p>`
}
${
  artifact
    ? html`<p>Artifact <a href="/ui/artifacts/${artifact.id}/content" download>${artifact.filename}</a> (${artifact.size} bytes), SHA-256 <code>${artifact.sha256}</code></p>`
    : ""
}
<h2>Timeline</h2>
${timeline(audit, ctx)}`;
}

export function collectionPage(
  record: CollectionRecord,
  targets: readonly TargetOutcome[],
  offer: DecisionOffer,
  audit: readonly LinkedAuditRecord[],
  ctx: PageContext,
): Html {
  const item: Item = { kind: "collection", record };
  const s = record.summary;
  return html`<h1>Collection ${record.action} · ${record.selector}</h1>
<p class="muted">id ${record.id} · targets digest <code>${record.targetsDigest}</code></p>
<article class="card">
${facts(item, ctx)}
<p>Error budget: ${record.errorBudget} failure(s) tolerated${s ? html`; ${JSON.stringify({ ...s, startedAt: iso(s.startedAt), finishedAt: iso(s.finishedAt) })}` : ""}</p>
${record.status === "pending" ? html`<p><strong>Why you may decide:</strong> ${offer.why}</p>` : ""}
${decisionForms(item, offer, ctx)}
</article>
<h2>Targets</h2>
<div class="table-wrap"><table><caption class="muted">Per-target outcome</caption>
<thead><tr><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead>
<tbody>${targets.map(
    (t) =>
      html`<tr><td>${t.target}</td><td>${statusBadge(t.status)}</td><td>${
        t.requestId ? html`<a href="/ui/requests/${t.requestId}">request</a> ` : ""
      }${t.error ? html`${t.error.code}: ${t.error.message}` : ""}</td></tr>`,
  )}</tbody></table></div>
<h2>Timeline</h2>
${timeline(audit, ctx)}`;
}

export function reviewsPage(
  reviews: readonly ReviewView[],
  mayClose: (review: ReviewView) => boolean,
  status: "open" | "closed" | "all",
  ctx: PageContext,
): Html {
  return html`<h1>Break-glass reviews</h1>
<form method="get" action="/ui/reviews" class="grid-form">
<div><label for="rstatus">Status</label><select id="rstatus" name="status">${(
    ["open", "closed", "all"] as const
  ).map(
    (s) => html`<option value="${s}"${s === status ? html` selected` : ""}>${s}</option>`,
  )}</select></div><div><button type="submit">Show</button></div></form>
${reviews.length === 0 ? html`<p class="muted">No reviews.</p>` : ""}
${reviews.map(
  (r) => html`<article class="card" aria-labelledby="rv-${r.id}">
<h2 id="rv-${r.id}"><a href="/ui/requests/${r.requestId}">${r.action} · ${r.target}</a> ${r.overdue ? html`<span class="flag">overdue</span>` : ""}</h2>
<dl class="facts">
<dt>Used by</dt><dd>${r.subject}</dd><dt>Environment</dt><dd>${r.environment}</dd>
<dt>Reason</dt><dd class="reason">${r.reason}</dd><dt>Ticket</dt><dd>${r.ticket}</dd>
<dt>Opened</dt><dd>${when(Date.parse(r.openedAt), ctx.now)}</dd>
<dt>Status</dt><dd>${statusBadge(r.status)}${r.closedBy ? html` by ${r.closedBy}` : ""}</dd>
${r.note ? html`<dt>Note</dt><dd class="reason">${r.note}</dd>` : ""}
</dl>
${
  r.status === "open" && mayClose(r)
    ? html`<form class="decide" method="post" action="/ui/reviews/${r.id}/close" data-confirm="Close this review?">
${csrfField(ctx)}<label for="rn-${r.id}">Review note (required)</label>
<input type="text" id="rn-${r.id}" name="note" required maxlength="${MAX_REASON_LENGTH}" autocomplete="off">
<button type="submit">Close review</button></form>`
    : r.status === "open"
      ? html`<p class="muted">Someone other than ${r.subject} entitled to ${r.action} in ${r.environment} closes this review.</p>`
      : ""
}
</article>`,
)}`;
}

export interface AuditQuery {
  readonly subject?: string | undefined;
  readonly action?: string | undefined;
  readonly environment?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

export function auditPage(
  verification: { result: VerifyResult; keyId: string; checkedAt: number } | { error: string },
  records: readonly AuditRecord[],
  scanned: { from: number; to: number },
  query: AuditQuery,
  ctx: PageContext,
  downloads = false,
): Html {
  const field = (name: keyof AuditQuery, label: string, type = "text") =>
    html`<div><label for="q-${name}">${label}</label><input type="${type}" id="q-${name}" name="${name}" value="${query[name] ?? ""}"></div>`;
  let status: Html;
  if ("error" in verification)
    status = html`<p class="notice error" role="alert">Verification could not run: ${verification.error}</p>`;
  else {
    const v = verification.result;
    status = v.ok
      ? html`<p class="notice" role="status"><strong>The chain verifies</strong> against the controller's audit key <code>${verification.keyId}</code>: ${v.records} record(s), up to seq ${v.lastSeq}; ${
          v.lastCheckpoint
            ? html`signed checkpoint at seq ${v.lastCheckpoint.seq} (${v.lastCheckpoint.time})`
            : "no signed checkpoint yet"
        }; ${v.unsignedTail} record(s) after it not yet signed. Checked ${when(verification.checkedAt, ctx.now)}.</p>`
      : html`<p class="notice error" role="alert"><strong>The chain does not verify</strong> (${v.problem?.kind}): ${v.problem?.message}</p>`;
  }
  return html`<h1>Audit</h1>
${status}
${
  downloads
    ? html`<p><a href="/ui/audit/export.jsonl" download>Download the export</a> (JSON Lines, signed up to now) · <a href="/ui/audit/report.md?days=30" download>Evidence report, last 30 days</a> (Markdown)</p>`
    : ""
}
<p class="muted">For proof you can take away, verify an export against a key you pinned: <code>keyhole audit verify --file FILE --key JWKS</code> (docs/audit.md).</p>
<h2>Search</h2>
<form method="get" action="/ui/audit" class="grid-form">
${field("subject", "Subject (actor)")}${field("action", "Action")}${field("environment", "Environment")}
${field("from", "From (UTC)", "datetime-local")}${field("to", "To (UTC)", "datetime-local")}
<div><button type="submit">Search</button></div>
</form>
<p class="muted">Records seq ${scanned.from}–${scanned.to} searched; only records of items you may see are shown (${records.length}).</p>
<div class="table-wrap"><table><caption class="muted">Audit records, newest first</caption>
<thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Event</th><th scope="col">Item</th><th scope="col">Reason</th></tr></thead>
<tbody>${records.map((r) => {
    const d = r.details as Record<string, unknown>;
    return html`<tr><td>${r.seq}</td><td>${r.time}</td><td>${r.actor}</td><td>${r.event}</td>
<td>${r.requestId ? html`<a href="/ui/requests/${r.requestId}">${typeof d.action === "string" ? d.action : "request"}</a>` : typeof d.action === "string" ? d.action : ""}${typeof d.environment === "string" ? html` <span class="muted">${d.environment}</span>` : ""}</td>
<td class="reason">${r.reason ?? ""}</td></tr>`;
  })}</tbody></table></div>`;
}

export function agentsPage(agents: readonly FleetAgent[], ctx: PageContext): Html {
  return html`<h1>Agents</h1>
<div class="table-wrap"><table><caption class="muted">Agents in the environments you have a role in</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Environment</th><th scope="col">State</th><th scope="col">Labels</th><th scope="col">Actions</th><th scope="col">Last heartbeat</th></tr></thead>
<tbody>${agents.map(
    (a) => html`<tr><td>${a.id}</td><td>${a.environment}</td><td>${statusBadge(a.state)}</td>
<td>${Object.entries(a.labels).map(([k, v], i) => html`${i ? ", " : ""}${k}=${v}`)}</td>
<td>${a.actions ? a.actions.join(", ") : html`<span class="muted">not reported</span>`}</td>
<td>${a.lastSeenAt ? when(a.lastSeenAt, ctx.now) : html`<span class="muted">${a.source === "static" ? "inventory (no heartbeat)" : "never"}</span>`}</td></tr>`,
  )}</tbody></table></div>`;
}

export function loginPage(options: {
  readonly loginCsrf: string;
  readonly next: string;
  readonly oidc: boolean;
  readonly error?: string | undefined;
}): Html {
  return html`<h1>Sign in</h1>
${options.error ? html`<p class="notice error" role="alert">${options.error}</p>` : ""}
${
  options.oidc
    ? html`<p><a href="/ui/login/oidc?next=${encodeURIComponent(options.next)}">Sign in with your identity provider</a></p><h2>Or with a token</h2>`
    : ""
}
<form method="post" action="/ui/login" class="decide">
<input type="hidden" name="_csrf" value="${options.loginCsrf}">
<input type="hidden" name="next" value="${options.next}">
<label for="token">Controller-issued token (<code>keyhole token issue</code>)</label>
<input type="password" id="token" name="token" required autocomplete="off" spellcheck="false">
<button type="submit">Sign in</button>
</form>
<p class="muted">The token is checked once and not kept: the console keeps a short session instead.</p>
<p class="muted">Followed a link and already signed in? <a href="${options.next}">Continue</a>.</p>`;
}

export function errorPage(message: string): Html {
  return html`<h1>Not possible</h1><p class="notice error" role="alert">${message}</p><p><a href="/ui/inbox">Back to the inbox</a></p>`;
}
