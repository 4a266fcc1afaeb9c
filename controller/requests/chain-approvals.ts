/**
 * The dispatcher trusts the audit chain, not a status column (issue 23, finding 5: whoever held the
 * database credentials set `status='approved'`, inserted an approval row, and after a restart the
 * request was dispatched with no `request.approved` record; the chain verified and the evidence
 * report flagged nothing).
 *
 * Before an envelope is signed, the request's own chain records must show what the row claims: a
 * `request.created` by the requester for this action, target, environment and params, and the
 * approvals it needs as `request.approved` records of people other than the requester (or the
 * controller's automatic approval where none were needed, or a `breakglass.used` record). A
 * collection's target is checked against the collection's `collection.created` and
 * `collection.approved` records. Each record read must still hash to its stored hash and be the one
 * its successor links to, so an edited record does not count.
 *
 * What this does not stop: someone who can write the audit table can append a forged approval
 * record at the chain's head with a correct hash (the chain's hash is no secret); it then stays in
 * the chain for good, names the approver it claims, and is listed in the evidence report.
 */

import { canonicalJson } from "../audit/canonical-json.js";
import { type AuditRecord, auditRecordHash } from "../audit/chain.js";
import { sameSubject } from "../identity/subject.js";
import type { LinkedAuditRecord, RequestRecord, Store } from "../store/types.js";

/** Why `request` may not be signed on the chain's evidence; undefined when the chain backs it. */
export async function approvalsNotOnChain(
  store: Pick<Store, "listRequestAudit" | "listCollectionAudit">,
  request: Pick<
    RequestRecord,
    "id" | "subject" | "action" | "target" | "environment" | "params" | "approvalsRequired" | "breakGlass"
  >,
): Promise<string | undefined> {
  const records = await store.listRequestAudit(request.id);
  const broken = records.find((r) => !intact(r));
  if (broken) return `its audit record ${broken.seq} (${broken.event}) is not intact in the chain`;
  const created = records.find(
    (r) =>
      r.event === "request.created" &&
      sameSubject(r.actor, request.subject) &&
      r.details.action === request.action &&
      r.details.target === request.target &&
      r.details.environment === request.environment &&
      canonicalJson(r.details.params ?? {}) === canonicalJson(request.params),
  );
  if (!created)
    return `the audit chain holds no request.created record by ${request.subject} for ${request.action} on ${request.target} with these params`;
  const filed = typeof created.details.approvalsRequired === "number" ? created.details.approvalsRequired : 0;
  const required = Math.max(filed, request.approvalsRequired);
  const collectionId = created.details.collectionId;
  if (typeof collectionId === "string")
    return collectionNotOnChain(store, { ...request, id: collectionId }, request.target, required);
  if (request.breakGlass) {
    const used = records.some((r) => r.event === "breakglass.used" && sameSubject(r.actor, request.subject));
    return used && created.details.breakGlass === true
      ? undefined
      : `the audit chain holds no breakglass.used record by ${request.subject} for it`;
  }
  return shortOf(
    records.filter((r) => r.event === "request.approved"),
    request.subject,
    required,
    "it",
  );
}

/**
 * Why a collection may not run on the chain's evidence (its `collection.created` by the requester for
 * this action, environment and params, covering `target` when given, and its approvals); undefined
 * when the chain backs it.
 */
export async function collectionNotOnChain(
  store: Pick<Store, "listCollectionAudit">,
  collection: {
    readonly id: string;
    readonly subject: string;
    readonly action: string;
    readonly environment: string;
    readonly params: Readonly<Record<string, unknown>>;
    readonly approvalsRequired: number;
  },
  target?: string,
  atLeast = 0,
): Promise<string | undefined> {
  const id = collection.id;
  const records = await store.listCollectionAudit(id);
  const bad = records.find((r) => !intact(r));
  if (bad) return `collection ${id}'s audit record ${bad.seq} is not intact in the chain`;
  const filed = records.find(
    (r) =>
      r.event === "collection.created" &&
      r.details.collectionId === id &&
      sameSubject(r.actor, collection.subject) &&
      r.details.action === collection.action &&
      r.details.environment === collection.environment &&
      canonicalJson(r.details.params ?? {}) === canonicalJson(collection.params) &&
      (target === undefined || (Array.isArray(r.details.targets) && r.details.targets.includes(target))),
  );
  if (!filed)
    return `the audit chain holds no collection.created record of collection ${id} by ${collection.subject}${target ? ` covering ${target}` : ""}`;
  const filedCount =
    typeof filed.details.approvalsRequired === "number" ? filed.details.approvalsRequired : 0;
  return shortOf(
    records.filter((r) => r.event === "collection.approved" && r.details.collectionId === id),
    collection.subject,
    Math.max(atLeast, filedCount, collection.approvalsRequired),
    `collection ${id}`,
  );
}

/** Why `approvals` fall short of `required` people other than `requester`; undefined when they do not. */
function shortOf(
  approvals: readonly AuditRecord[],
  requester: string,
  required: number,
  what: string,
): string | undefined {
  if (required === 0) {
    return approvals.some((r) => r.details.automatic === true && r.actor.startsWith("controller:"))
      ? undefined
      : `the audit chain holds no approval record for ${what}`;
  }
  const people = new Set<string>();
  for (const r of approvals) {
    if (r.details.automatic === true || r.actor.startsWith("controller:")) continue;
    if (sameSubject(r.actor, requester)) continue;
    if (![...people].some((p) => sameSubject(p, r.actor))) people.add(r.actor);
  }
  if (people.size >= required) return undefined;
  return `the audit chain holds ${people.size} approval record(s) of people other than the requester for ${what}, and ${required} are required`;
}

/** The record still hashes to its hash, and its successor (if any) links to it. */
function intact(record: LinkedAuditRecord): boolean {
  const { hash, nextPrevHash, ...rest } = record;
  return auditRecordHash(rest) === hash && (nextPrevHash === undefined || nextPrevHash === hash);
}

/**
 * The people's approval records of a request or a collection, oldest first: a request's
 * `request.approved` records, or, for a request a collection filed, its collection's
 * `collection.approved` ones. The controller's automatic approvals are left out.
 */
export async function approvalRecordsOf(
  store: Pick<Store, "listRequestAudit" | "listCollectionAudit">,
  kind: "request" | "collection",
  id: string,
): Promise<AuditRecord[]> {
  const people = (r: AuditRecord) => r.details.automatic !== true && !r.actor.startsWith("controller:");
  let collectionId = kind === "collection" ? id : undefined;
  if (kind === "request") {
    const records = await store.listRequestAudit(id);
    const created = records.find((r) => r.event === "request.created");
    if (typeof created?.details.collectionId !== "string")
      return records.filter((r) => r.event === "request.approved" && people(r));
    collectionId = created.details.collectionId;
  }
  return (await store.listCollectionAudit(collectionId!)).filter(
    (r) => r.event === "collection.approved" && r.details.collectionId === collectionId && people(r),
  );
}
