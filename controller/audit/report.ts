/**
 * The evidence report: what a reviewer asks after a period, answered from the audit chain alone.
 * Who reached what (requests by person, action and environment), under which approval (approvals
 * and who gave them, break-glass uses and their reviews), what was refused, which artifacts were
 * stored and who downloaded them; plus whether the chain that says so is intact — which it says only
 * when the chain verified against a key the reviewer pinned, and otherwise says so first. Each section is
 * mapped to the controls regulated teams are asked about: OWASP Non-Human Identities Top 10
 * (NHI3, as the product brief names it) and NIST CSF 2.0 Identity Management, Authentication and
 * Access Control (PR.AA).
 *
 * Pure: records in, report out. Events it does not know are counted, never an error, so a report
 * over a chain written by a later version still adds up.
 */
import { safeText } from "../../common/safe-text.js";
import type { AuditRecord } from "./chain.js";
import type { VerifyResult } from "./verify-chain.js";

/** The chain's verification as the report needs it (controller/audit/cli.ts classifies it). */
export interface ChainVerdict extends Omit<VerifyResult, "ok"> {
  readonly status: "intact" | "broken" | "unpinned";
  /** Where the key came from, and whether it was pinned. */
  readonly keySource: string;
  /** Why it is not verified against a pinned key; undefined unless `unpinned`. */
  readonly unpinnedReason: string | undefined;
}

/** The first words of a report whose chain no pinned key vouches for. */
export const NOT_PINNED = "not verified against a pinned key";

interface RequestFacts {
  id: string;
  subject: string;
  action: string;
  environment: string;
  target: string;
  createdAt: string;
  breakGlass: boolean;
  approvalsRequired: number;
  approvers: { subject: string; at: string }[];
  automatic: boolean;
  outcome: "pending" | "approved" | "dispatched" | "completed" | "failed" | "denied" | "expired";
  failure?: string;
  deniedBy?: string;
  /** The collection it is a target of (its approvals are the collection's). */
  collectionId?: string;
  /** Whether the chain held its required approvals when it was dispatched. */
  dispatchedUnapproved?: boolean;
}

/** A collection's approvals as the chain states them. */
interface CollectionFacts {
  subject: string;
  approvalsRequired: number;
  approvers: Set<string>;
  automatic: boolean;
}

export interface EvidenceReport {
  readonly generatedAt: string;
  readonly since: string;
  readonly until: string;
  readonly chain: {
    /** True only when the chain verified against a key the reviewer pinned. */
    readonly intact: boolean;
    readonly status: "intact" | "broken" | "unpinned";
    /** Where the verifying key came from (a pinned file, a fingerprint, or an unpinned copy). */
    readonly keySource: string;
    readonly records: number;
    readonly lastSeq: number;
    readonly lastCheckpoint: { seq: number; time: string } | undefined;
    readonly unsignedTail: number;
    readonly problem: string | undefined;
  };
  readonly totals: {
    readonly records: number;
    readonly requests: number;
    readonly completed: number;
    readonly failed: number;
    readonly denied: number;
    readonly expired: number;
    readonly refused: number;
    readonly breakGlass: number;
  };
  readonly byPerson: readonly {
    subject: string;
    human: boolean;
    requests: number;
    completed: number;
    refused: number;
    environments: string[];
  }[];
  readonly byAction: readonly { action: string; requests: number; completed: number }[];
  readonly byEnvironment: readonly {
    environment: string;
    requests: number;
    approved: number;
    automatic: number;
    breakGlass: number;
  }[];
  readonly approvals: readonly {
    requestId: string;
    requester: string;
    action: string;
    environment: string;
    approvers: string[];
    outcome: string;
  }[];
  readonly approvers: readonly { subject: string; approvals: number; denials: number }[];
  /**
   * Requests dispatched without the approvals they needed on the chain (issue 23, finding 5): no
   * `request.approved` records of enough people other than the requester (or of the collection), no
   * automatic approval where none were needed, no `breakglass.used`. Each one is a dispatch the chain
   * does not authorize: someone moved it outside the controller's decisions.
   */
  readonly unapprovedDispatches: readonly {
    requestId: string;
    requester: string;
    action: string;
    environment: string;
    target: string;
    approvalsRequired: number;
    approvers: string[];
    collectionId: string | null;
  }[];
  readonly breakGlass: readonly {
    requestId: string;
    subject: string;
    action: string;
    environment: string;
    at: string;
    ticket: string | null;
    reason: string | null;
    review: { closedBy: string; closedAt: string; note: string } | "open" | "overdue";
  }[];
  readonly refusals: readonly {
    code: string;
    by: "controller" | "agent";
    count: number;
    subjects: string[];
  }[];
  readonly artifacts: {
    readonly stored: number;
    readonly bytes: number;
    readonly deleted: number;
    readonly downloads: readonly { artifactId: string; by: string; at: string; sha256: string }[];
  };
  readonly tokens: {
    readonly issued: number;
    readonly revoked: number;
    readonly subjects: readonly string[];
    /**
     * Acts (filing, approving) with a controller token that has no `token.issued` record on the chain
     * before them: a token written into the database by hand (issue 23 attack, N4).
     */
    readonly unissued: readonly { subject: string; tokenId: string; event: string; at: string }[];
  };
  readonly otherEvents: Readonly<Record<string, number>>;
  readonly controls: readonly { control: string; title: string; evidence: string }[];
}

const isHuman = (subject: string) => subject.startsWith("user:");
const str = (v: unknown) => (typeof v === "string" ? v : undefined);

function bump<K>(map: Map<K, number>, key: K, by = 1) {
  map.set(key, (map.get(key) ?? 0) + by);
}

/**
 * Whether the chain, as read so far, holds the approvals `request` needed when it was dispatched:
 * break-glass, the controller's automatic approval where none were needed, or enough people other
 * than the requester (a collection's target: the collection's).
 */
function approvedOnChain(request: RequestFacts, collections: ReadonlyMap<string, CollectionFacts>): boolean {
  if (request.breakGlass) return true;
  if (request.collectionId !== undefined) {
    const c = collections.get(request.collectionId);
    if (!c) return false;
    const required = Math.max(c.approvalsRequired, request.approvalsRequired);
    return required === 0
      ? c.automatic
      : [...c.approvers].filter((a) => a !== request.subject).length >= required;
  }
  if (request.approvalsRequired === 0) return request.automatic;
  const people = new Set(request.approvers.map((a) => a.subject).filter((a) => a !== request.subject));
  return people.size >= request.approvalsRequired;
}

/**
 * Builds the report over the records with `time` in [since, until). A request is counted when it
 * was created in the window; later records of a request created before it are left out.
 */
export async function buildReport(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  options: { since: Date; until: Date; chain: ChainVerdict },
): Promise<EvidenceReport> {
  const since = options.since.toISOString();
  const until = options.until.toISOString();
  const requests = new Map<string, RequestFacts>();
  const refusals = new Map<
    string,
    { code: string; by: "controller" | "agent"; count: number; subjects: Set<string> }
  >();
  const approverCounts = new Map<string, { approvals: number; denials: number }>();
  const breakGlass = new Map<string, EvidenceReport["breakGlass"][number]>();
  const downloads: { artifactId: string; by: string; at: string; sha256: string }[] = [];
  const other = new Map<string, number>();
  const collections = new Map<string, CollectionFacts>();
  const tokenSubjects = new Set<string>();
  // Every token the chain issued up to the window's end, whenever: a token lives past its window.
  const issuedTokenIds = new Set<string>();
  const unissued: { subject: string; tokenId: string; event: string; at: string }[] = [];
  const tokenOf = (credential: unknown): string | undefined => {
    const c = credential as { kind?: unknown; id?: unknown } | undefined;
    return c?.kind === "token" && typeof c.id === "string" ? c.id : undefined;
  };
  let refusedRequests = 0;
  let stored = 0;
  let bytes = 0;
  let deleted = 0;
  let issued = 0;
  let revoked = 0;
  let inWindow = 0;
  const refusedBy = new Map<string, number>();
  const refuse = (code: string, by: "controller" | "agent", subject: string) => {
    const key = `${by}/${code}`;
    const entry = refusals.get(key) ?? { code, by, count: 0, subjects: new Set<string>() };
    entry.count++;
    entry.subjects.add(subject);
    refusals.set(key, entry);
  };
  const approver = (subject: string) => {
    const entry = approverCounts.get(subject) ?? { approvals: 0, denials: 0 };
    approverCounts.set(subject, entry);
    return entry;
  };

  for await (const r of records) {
    if (r.time >= until) continue;
    if (r.event === "token.issued" && typeof r.details.tokenId === "string")
      issuedTokenIds.add(r.details.tokenId);
    if (r.time < since) continue;
    const used =
      r.event === "request.created"
        ? tokenOf(r.details.credential)
        : r.event === "request.approved" || r.event === "collection.approved"
          ? tokenOf((r.details.approver as { credential?: unknown } | undefined)?.credential)
          : undefined;
    if (used !== undefined && !issuedTokenIds.has(used))
      unissued.push({ subject: r.actor, tokenId: used, event: r.event, at: r.time });
    inWindow++;
    const d = r.details;
    const request = r.requestId ? requests.get(r.requestId) : undefined;
    switch (r.event) {
      case "request.created":
        if (r.requestId)
          requests.set(r.requestId, {
            id: r.requestId,
            subject: r.actor,
            action: String(d.action),
            environment: String(d.environment),
            target: String(d.target),
            createdAt: r.time,
            breakGlass: d.breakGlass === true,
            approvalsRequired: Number(d.approvalsRequired ?? 0),
            approvers: [],
            automatic: false,
            outcome: "pending",
            ...(typeof d.collectionId === "string" ? { collectionId: d.collectionId } : {}),
          });
        break;
      case "collection.created":
        if (typeof d.collectionId === "string")
          collections.set(d.collectionId, {
            subject: r.actor,
            approvalsRequired: Number(d.approvalsRequired ?? 0),
            approvers: new Set(),
            automatic: false,
          });
        bump(other, r.event);
        break;
      case "collection.approved": {
        const c = typeof d.collectionId === "string" ? collections.get(d.collectionId) : undefined;
        if (c && d.automatic === true && r.actor.startsWith("controller:")) c.automatic = true;
        else if (c && !r.actor.startsWith("controller:") && r.actor !== c.subject) c.approvers.add(r.actor);
        if (c && typeof d.approvalsRequired === "number")
          c.approvalsRequired = Math.max(c.approvalsRequired, d.approvalsRequired);
        bump(other, r.event);
        break;
      }
      case "request.refused":
        refusedRequests++;
        bump(refusedBy, r.actor);
        refuse(str(d.code) ?? "KH_POLICY_DENIED", "controller", r.actor);
        break;
      case "request.approved":
        if (!request) break;
        // Break-glass skips approval too, but it is its own column, never "automatic".
        if (d.automatic === true && !request.breakGlass) request.automatic = true;
        else if (!r.actor.startsWith("controller:")) {
          request.approvers.push({ subject: r.actor, at: r.time });
          approver(r.actor).approvals++;
        }
        if (d.status === "approved") request.outcome = "approved";
        if (typeof d.approvalsRequired === "number")
          request.approvalsRequired = Math.max(request.approvalsRequired, d.approvalsRequired);
        break;
      case "request.denied":
        if (!request) break;
        request.outcome = "denied";
        request.deniedBy = r.actor;
        if (d.withdrawn !== true) approver(r.actor).denials++;
        break;
      case "request.expired":
        if (request) request.outcome = "expired";
        break;
      case "request.dispatched":
        if (!request) break;
        request.outcome = "dispatched";
        request.dispatchedUnapproved = !approvedOnChain(request, collections);
        break;
      case "request.completed":
        if (request) request.outcome = "completed";
        break;
      case "request.failed":
        if (!request) break;
        request.outcome = "failed";
        request.failure = str(d.code);
        if (str(d.code))
          refuse(String(d.code), typeof d.httpStatus === "number" ? "agent" : "controller", request.subject);
        break;
      case "breakglass.used":
        if (r.requestId)
          breakGlass.set(r.requestId, {
            requestId: r.requestId,
            subject: r.actor,
            action: str(d.action) ?? request?.action ?? "",
            environment: str(d.environment) ?? request?.environment ?? "",
            at: r.time,
            ticket: r.ticket,
            reason: r.reason,
            review: "open",
          });
        if (request) request.breakGlass = true;
        break;
      case "review.closed": {
        const use = r.requestId ? breakGlass.get(r.requestId) : undefined;
        if (use) use.review = { closedBy: r.actor, closedAt: r.time, note: str(d.note) ?? "" };
        break;
      }
      case "review.overdue": {
        const use = r.requestId ? breakGlass.get(r.requestId) : undefined;
        if (use && use.review === "open") use.review = "overdue";
        break;
      }
      case "artifact.stored":
        stored++;
        bytes += typeof d.size === "number" ? d.size : 0;
        break;
      case "artifact.downloaded":
        downloads.push({
          artifactId: String(d.artifactId),
          by: r.actor,
          at: r.time,
          sha256: String(d.sha256 ?? ""),
        });
        break;
      case "artifact.deleted":
        deleted++;
        break;
      case "token.issued":
        issued++;
        if (str(d.subject)) tokenSubjects.add(String(d.subject));
        break;
      case "token.revoked":
        revoked++;
        break;
      default:
        bump(other, r.event);
    }
  }

  const all = [...requests.values()];
  const count = (pred: (r: RequestFacts) => boolean) => all.filter(pred).length;
  const people = new Map<
    string,
    { requests: number; completed: number; refused: number; environments: Set<string> }
  >();
  const person = (s: string) => {
    const p = people.get(s) ?? { requests: 0, completed: 0, refused: 0, environments: new Set<string>() };
    people.set(s, p);
    return p;
  };
  for (const r of all) {
    const p = person(r.subject);
    p.requests++;
    if (r.outcome === "completed") p.completed++;
    p.environments.add(r.environment);
  }
  for (const [s, n] of refusedBy) person(s).refused += n;
  const group = <K extends string>(key: (r: RequestFacts) => K) => {
    const m = new Map<K, RequestFacts[]>();
    for (const r of all) m.set(key(r), [...(m.get(key(r)) ?? []), r]);
    return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  };
  const byAsc = <T>(list: T[], key: (t: T) => string) =>
    list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

  const breakGlassList = byAsc([...breakGlass.values()], (b) => b.at);
  const openReviews = breakGlassList.filter((b) => typeof b.review === "string").length;
  const humanApproved = all.filter((r) => r.approvers.length > 0);
  const services = [...people.keys()].filter((s) => !isHuman(s));
  const chain = options.chain;
  const unapproved = all.filter((r) => r.dispatchedUnapproved).length;

  return {
    generatedAt: new Date().toISOString(),
    since,
    until,
    chain: {
      intact: chain.status === "intact",
      status: chain.status,
      keySource: chain.keySource,
      records: chain.records,
      lastSeq: chain.lastSeq,
      lastCheckpoint: chain.lastCheckpoint,
      unsignedTail: chain.unsignedTail,
      problem:
        chain.status === "unpinned" ? `${NOT_PINNED}: ${chain.unpinnedReason}` : chain.problem?.message,
    },
    totals: {
      records: inWindow,
      requests: all.length,
      completed: count((r) => r.outcome === "completed"),
      failed: count((r) => r.outcome === "failed"),
      denied: count((r) => r.outcome === "denied"),
      expired: count((r) => r.outcome === "expired"),
      refused: refusedRequests,
      breakGlass: breakGlassList.length,
    },
    byPerson: byAsc(
      [...people.entries()].map(([subject, p]) => ({
        subject,
        human: isHuman(subject),
        requests: p.requests,
        completed: p.completed,
        refused: p.refused,
        environments: [...p.environments].sort(),
      })),
      (p) => p.subject,
    ),
    byAction: group((r) => r.action).map(([action, rs]) => ({
      action,
      requests: rs.length,
      completed: rs.filter((r) => r.outcome === "completed").length,
    })),
    byEnvironment: group((r) => r.environment).map(([environment, rs]) => ({
      environment,
      requests: rs.length,
      approved: rs.filter((r) => r.approvers.length > 0).length,
      automatic: rs.filter((r) => r.automatic).length,
      breakGlass: rs.filter((r) => r.breakGlass).length,
    })),
    approvals: humanApproved.map((r) => ({
      requestId: r.id,
      requester: r.subject,
      action: r.action,
      environment: r.environment,
      approvers: r.approvers.map((a) => a.subject),
      outcome: r.outcome,
    })),
    unapprovedDispatches: all
      .filter((r) => r.dispatchedUnapproved)
      .map((r) => ({
        requestId: r.id,
        requester: r.subject,
        action: r.action,
        environment: r.environment,
        target: r.target,
        approvalsRequired: r.approvalsRequired,
        approvers: r.collectionId
          ? [...(collections.get(r.collectionId)?.approvers ?? [])]
          : r.approvers.map((a) => a.subject),
        collectionId: r.collectionId ?? null,
      })),
    approvers: byAsc(
      [...approverCounts.entries()].map(([subject, c]) => ({ subject, ...c })),
      (a) => a.subject,
    ),
    breakGlass: breakGlassList,
    refusals: [...refusals.values()]
      .map((r) => ({ code: r.code, by: r.by, count: r.count, subjects: [...r.subjects].sort() }))
      .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
    artifacts: { stored, bytes, deleted, downloads },
    tokens: { issued, revoked, subjects: [...tokenSubjects].sort(), unissued },
    otherEvents: Object.fromEntries([...other.entries()].sort()),
    controls: [
      {
        control: "OWASP NHI3:2025",
        title: "Non-human identities (third-party and automation callers)",
        evidence: `${services.length} non-human subject(s) made requests (${services.join(", ") || "none"}); every one is named with what it reached below. ${issued} controller token(s) issued and ${revoked} revoked in the period, each with an expiry; only token hashes are stored.`,
      },
      {
        control: "NIST CSF 2.0 PR.AA-01 / PR.AA-03",
        title: "Identities and credentials are managed; users and services are authenticated",
        evidence: `All ${all.length} request(s) and ${refusedRequests} refusal(s) carry an authenticated subject (bearer token or OIDC); ${issued} token(s) issued, ${revoked} revoked.${unissued.length > 0 ? ` NOT MET: ${unissued.length} act(s) used a token with no issuance on the audit chain (listed under "Tokens").` : ""}`,
      },
      {
        control: "NIST CSF 2.0 PR.AA-05",
        title: "Access is authorized, least privilege and separation of duties enforced and reviewed",
        evidence: `${humanApproved.length} request(s) approved by someone other than the requester (four eyes), ${count((r) => r.automatic)} approved automatically where the policy needs no approval, ${refusedRequests} refused by policy; ${breakGlassList.length} break-glass use(s), ${breakGlassList.length - openReviews} reviewed, ${openReviews} review(s) still open.${unapproved > 0 ? ` NOT MET: ${unapproved} request(s) were dispatched without the approvals they needed on the audit chain (listed under "Dispatches without approval on the chain").` : " Every dispatch has its approvals on the chain."}`,
      },
      {
        control: "NIST CSF 2.0 PR.PS-04",
        title: "Log records are generated and made available",
        evidence:
          chain.status === "intact"
            ? `The audit chain verifies against the pinned key (${chain.keySource}): ${chain.records} record(s), signed up to record ${chain.lastCheckpoint?.seq ?? 0}${chain.unsignedTail > 0 ? `, ${chain.unsignedTail} newer record(s) chained but not yet signed` : ""}.`
            : chain.status === "unpinned"
              ? `The audit chain was NOT verified against a pinned key (${chain.unpinnedReason}); nothing here is evidence until it is.`
              : `The audit chain does NOT verify: ${chain.problem?.message}`,
      },
    ],
  };
}

/**
 * A table cell of text from the chain (a reason, a ticket, a subject, an error code): on one line,
 * every control and invisible character a visible escape (`\n`, `\x1b`, `\u{202e}`: attack F2), and
 * `\` and `|` backslash-escaped so the cell can neither end early nor swallow the escape before it.
 */
export function markdownCell(text: string): string {
  return safeText(text).replace(/[\\|]/g, "\\$&");
}

/** Text from the chain outside a table: one line, controls and invisible characters escaped. */
const inline = (text: string | undefined) => safeText(String(text));

function table(head: string[], rows: (string | number)[][]): string {
  if (rows.length === 0) return "_none_\n";
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map((c) => markdownCell(String(c))).join(" | ")} |`),
  ]
    .join("\n")
    .concat("\n");
}

/** The report as Markdown, for a reviewer to read or attach. */
export function renderMarkdown(report: EvidenceReport): string {
  const r = report;
  const out: string[] = [];
  out.push(`# keyhole access evidence report\n`);
  // An unverified chain is said before anything else: a reader who stops at the first lines must
  // not take the rest for evidence.
  if (r.chain.status === "unpinned")
    out.push(
      `**Audit chain ${NOT_PINNED.toUpperCase()}.** This report proves nothing until it is: ${inline(r.chain.problem)}.\n`,
    );
  out.push(`Period: ${r.since} to ${r.until} (generated ${r.generatedAt}).\n`);
  out.push(
    r.chain.status === "intact"
      ? `Audit chain: **intact**, verified against the pinned key (${inline(r.chain.keySource)}), ${r.chain.records} records, signed up to record ${r.chain.lastCheckpoint?.seq ?? 0}${r.chain.lastCheckpoint ? ` (${r.chain.lastCheckpoint.time})` : ""}${r.chain.unsignedTail ? `; ${r.chain.unsignedTail} newer record(s) not yet signed` : ""}.\n`
      : r.chain.status === "unpinned"
        ? `Audit chain: **${NOT_PINNED}** (${r.chain.records} records, consistent under the key from ${inline(r.chain.keySource)}).\n`
        : `Audit chain: **BROKEN**: ${inline(r.chain.problem)}\n`,
  );
  const t = r.totals;
  out.push(
    `Totals: ${t.requests} requests (${t.completed} completed, ${t.failed} failed, ${t.denied} denied, ${t.expired} expired), ${t.refused} refused by policy, ${t.breakGlass} break-glass use(s); ${t.records} audit records in the period.\n`,
  );
  out.push(`## Controls\n`);
  out.push(
    table(
      ["control", "what", "evidence"],
      r.controls.map((c) => [c.control, c.title, c.evidence]),
    ),
  );
  out.push(`## Requests by person\n`);
  out.push(
    table(
      ["subject", "kind", "requests", "completed", "refused", "environments"],
      r.byPerson.map((p) => [
        p.subject,
        p.human ? "person" : "service",
        p.requests,
        p.completed,
        p.refused,
        p.environments.join(", "),
      ]),
    ),
  );
  out.push(`## Requests by action\n`);
  out.push(
    table(
      ["action", "requests", "completed"],
      r.byAction.map((a) => [a.action, a.requests, a.completed]),
    ),
  );
  out.push(`## Requests by environment\n`);
  out.push(
    table(
      ["environment", "requests", "approved by a person", "approved automatically", "break-glass"],
      r.byEnvironment.map((e) => [e.environment, e.requests, e.approved, e.automatic, e.breakGlass]),
    ),
  );
  out.push(`## Approvals\n`);
  out.push(
    table(
      ["request", "requester", "action", "environment", "approved by", "outcome"],
      r.approvals.map((a) => [
        a.requestId,
        a.requester,
        a.action,
        a.environment,
        a.approvers.join(", "),
        a.outcome,
      ]),
    ),
  );
  out.push(
    table(
      ["approver", "approvals", "denials"],
      r.approvers.map((a) => [a.subject, a.approvals, a.denials]),
    ),
  );
  if (r.unapprovedDispatches.length > 0) {
    out.push(`## Dispatches without approval on the chain\n`);
    out.push(
      `**${r.unapprovedDispatches.length} request(s) were dispatched without the approvals they needed in the audit chain.** The controller signs only what the chain approves; each of these was moved outside its decisions (for example in the database). Investigate every one.\n`,
    );
    out.push(
      table(
        [
          "request",
          "requester",
          "action",
          "environment",
          "target",
          "required",
          "approvers on the chain",
          "collection",
        ],
        r.unapprovedDispatches.map((u) => [
          u.requestId,
          u.requester,
          u.action,
          u.environment,
          u.target,
          u.approvalsRequired,
          u.approvers.join(", "),
          u.collectionId ?? "",
        ]),
      ),
    );
  }
  out.push(`## Break-glass uses and their reviews\n`);
  out.push(
    table(
      ["at", "who", "action", "environment", "ticket", "reason", "review"],
      r.breakGlass.map((b) => [
        b.at,
        b.subject,
        b.action,
        b.environment,
        b.ticket ?? "",
        b.reason ?? "",
        typeof b.review === "string"
          ? b.review.toUpperCase()
          : `closed by ${b.review.closedBy} at ${b.review.closedAt}: ${b.review.note}`,
      ]),
    ),
  );
  out.push(`## Refusals\n`);
  out.push(
    table(
      ["code", "by", "count", "subjects"],
      r.refusals.map((x) => [x.code, x.by, x.count, x.subjects.join(", ")]),
    ),
  );
  out.push(`## Artifacts and downloads\n`);
  out.push(
    `${r.artifacts.stored} stored (${r.artifacts.bytes} bytes), ${r.artifacts.deleted} deleted by retention.\n`,
  );
  out.push(
    table(
      ["artifact", "downloaded by", "at", "sha256"],
      r.artifacts.downloads.map((d) => [d.artifactId, d.by, d.at, d.sha256]),
    ),
  );
  out.push(`## Tokens\n`);
  out.push(
    `${r.tokens.issued} issued (${inline(r.tokens.subjects.join(", ")) || "none"}), ${r.tokens.revoked} revoked.\n`,
  );
  if (r.tokens.unissued.length > 0) {
    out.push(
      `**${r.tokens.unissued.length} act(s) used a token with no issuance on the audit chain.** The controller accepts only tokens the chain issued; each of these was written outside it (for example in the database). Investigate every one.\n`,
    );
    out.push(
      table(
        ["subject", "token", "event", "at"],
        r.tokens.unissued.map((u) => [u.subject, u.tokenId, u.event, u.at]),
      ),
    );
  }
  if (Object.keys(r.otherEvents).length > 0) {
    out.push(`## Other events\n`);
    out.push(table(["event", "count"], Object.entries(r.otherEvents)));
  }
  return out.join("\n");
}
