/** A collection as the HTTP API shows it: ISO times, optional parts only when they exist. */
import type { CollectionRecord } from "../store/fleet-types.js";
import type { TargetOutcome } from "./collections.js";
import { formatMaxErrors } from "./error-budget.js";

const iso = (ms: number) => new Date(ms).toISOString();

export function toCollectionView(c: CollectionRecord, targets?: readonly TargetOutcome[]) {
  return {
    id: c.id,
    status: c.status,
    subject: c.subject,
    action: c.action,
    selector: c.selector,
    environment: c.environment,
    params: { ...c.params },
    reason: c.reason,
    ...(c.ticket === undefined ? {} : { ticket: c.ticket }),
    output: c.output,
    targets: targets ? targets.map((t) => ({ ...t })) : c.targets.map((t) => ({ target: t.id })),
    targetsDigest: c.targetsDigest,
    maxConcurrency: c.maxConcurrency,
    maxErrors: formatMaxErrors(c.maxErrors),
    errorBudget: c.errorBudget,
    approvalsRequired: c.approvalsRequired,
    approvals: c.approvals.map((a) => ({
      subject: a.subject,
      at: iso(a.at),
      ...(a.note ? { note: a.note } : {}),
    })),
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    expiresAt: iso(c.expiresAt),
    ...(c.trigger ? { trigger: { ...c.trigger } } : {}),
    ...(c.summary
      ? {
          summary: {
            ...c.summary,
            startedAt: iso(c.summary.startedAt),
            finishedAt: iso(c.summary.finishedAt),
          },
        }
      : {}),
    ...(c.denial ? { denial: { ...c.denial } } : {}),
  };
}
