/**
 * Alert triggers: Alertmanager's webhook payload in, collections out (docs/fleet.md).
 *
 * Each firing alert is matched against the rules; a rule fires only for the receivers it names (the
 * `svc:` identities allowed to post it). A match claims the cooldown of (rule, rendered selector) in
 * the store (so a replica or a restart cannot fire it twice) and files a collection as the identity
 * that posted the hook, through the same policy, approvals and audit as any other. The cooldown key
 * is the controller's, derived from the alert's labels through the rule: the payload's own
 * `fingerprint` is never trusted (a caller choosing it could file a new collection per POST), and
 * labels the rule does not use cannot make a new key either. Alerts that match no rule, resolved
 * alerts and alerts in cooldown do nothing, and the answer says so per alert. One `trigger.received`
 * record per payload lists what happened to each alert. The hook is rate limited per subject like
 * any request (fleet/routes.ts).
 */
import { createHash } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { z } from "zod";
import { MAX_REASON_LENGTH } from "../../protocol/request.js";
import { ControllerError } from "../errors.js";
import type { Principal } from "../identity/principal.js";
import type { Store } from "../store/types.js";
import type { CollectionService } from "./collections.js";
import { renderSelector, ruleMatches, type TriggerRules } from "./trigger-rules.js";

/**
 * Alertmanager's webhook body (version 4). Not strict, unlike our own schemas: Alertmanager adds
 * fields across releases, and an unknown field there must not drop an alert on the floor.
 */
export const alertmanagerPayloadSchema = z.object({
  version: z.string().max(16).optional(),
  groupKey: z.string().max(4096).optional(),
  receiver: z.string().max(256).optional(),
  status: z.enum(["firing", "resolved"]).optional(),
  alerts: z
    .array(
      z.object({
        status: z.enum(["firing", "resolved"]),
        labels: z.record(z.string().max(256), z.string().max(1024)),
        annotations: z.record(z.string().max(256), z.string().max(4096)).default({}),
        fingerprint: z.string().max(128).optional(),
        startsAt: z.string().max(64).optional(),
      }),
    )
    .max(1000),
});
export type AlertmanagerPayload = z.infer<typeof alertmanagerPayloadSchema>;

export type AlertOutcome = "collected" | "cooldown" | "no-matching-rule" | "resolved" | "refused";

export interface AlertReport {
  readonly fingerprint: string;
  readonly alertname: string | undefined;
  readonly outcome: AlertOutcome;
  readonly rule?: string;
  readonly collectionId?: string;
  readonly message: string;
}

export interface HookAnswer {
  readonly received: number;
  readonly collections: string[];
  readonly alerts: AlertReport[];
  /** One sentence for people reading Alertmanager's or the controller's logs. */
  readonly message: string;
}

export interface TriggerServiceDeps {
  readonly rules: TriggerRules;
  readonly collections: CollectionService;
  readonly store: Store;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
}

export class TriggerService {
  constructor(private readonly deps: TriggerServiceDeps) {}

  /**
   * Handles one webhook delivery from `who`: a `svc:` identity that some rule names as a receiver,
   * else KH_POLICY_DENIED before anything is read.
   */
  async alertmanager(who: Principal, payload: AlertmanagerPayload): Promise<HookAnswer> {
    if (!who.subject.startsWith("svc:")) {
      throw new ControllerError(
        "KH_POLICY_DENIED",
        "the alert hook takes a service identity (svc:<name>) only",
      );
    }
    const { rules, collections, store, now } = this.deps;
    if (!rules.rules.some((r) => r.receivers.includes(who.subject))) {
      await store.appendAudit(
        [
          {
            actor: who.subject,
            event: "trigger.refused",
            details: { receiver: payload.receiver ?? null, alerts: payload.alerts.length },
          },
        ],
        now(),
      );
      throw new ControllerError(
        "KH_POLICY_DENIED",
        `${who.subject} is not a receiver of any trigger rule (a rule names who may fire it in receivers)`,
      );
    }
    const reports: AlertReport[] = [];
    // One collection per (rule, selector) per delivery, however many alerts of a group match it.
    const filed = new Map<string, string>();
    for (const alert of payload.alerts) {
      // Ours, from the labels: the payload's `fingerprint` is the caller's to choose.
      const fingerprint = fingerprintOf(alert.labels);
      const alertname = alert.labels.alertname;
      const base = { fingerprint, alertname };
      if (alert.status !== "firing") {
        reports.push({ ...base, outcome: "resolved", message: "resolved alerts collect nothing" });
        continue;
      }
      const matched = rules.rules.filter((r) => ruleMatches(r, alert.labels));
      const matching = matched.filter((r) => r.receivers.includes(who.subject));
      for (const rule of matched.filter((r) => !matching.includes(r)))
        reports.push({
          ...base,
          outcome: "refused",
          rule: rule.name,
          message: `${who.subject} is not a receiver of rule "${rule.name}"; nothing was collected`,
        });
      if (matched.length === 0) {
        const labels = Object.keys(alert.labels).sort().join(", ");
        reports.push({
          ...base,
          outcome: "no-matching-rule",
          message: `no trigger rule matches this alert's labels (${labels || "none"}); nothing was collected`,
        });
        continue;
      }
      for (const rule of matching) {
        const rendered = renderSelector(rule, alert.labels);
        if ("missing" in rendered) {
          reports.push({
            ...base,
            outcome: "refused",
            rule: rule.name,
            message: `the rule's selector needs the alert label(s) ${rendered.missing.join(", ")}, which this alert lacks`,
          });
          continue;
        }
        const key = `${rule.name}\u0000${rendered.selector}`;
        const already = filed.get(key);
        if (already) {
          reports.push({
            ...base,
            outcome: "collected",
            rule: rule.name,
            collectionId: already,
            message: "joined the collection filed for another alert of this delivery",
          });
          continue;
        }
        const at = now();
        const claimed = await store.fleet.claimTriggerFiring(
          cooldownKey(rule.name, rendered.selector),
          at,
          rule.cooldownSeconds * 1000,
          [
            {
              actor: who.subject,
              event: "trigger.fired",
              details: {
                rule: rule.name,
                fingerprint,
                alertname: alertname ?? null,
                selector: rendered.selector,
              },
            },
          ],
        );
        if (!claimed) {
          await store.appendAudit(
            [
              {
                actor: who.subject,
                event: "trigger.suppressed",
                details: {
                  rule: rule.name,
                  fingerprint,
                  alertname: alertname ?? null,
                  cooldownSeconds: rule.cooldownSeconds,
                },
              },
            ],
            at,
          );
          reports.push({
            ...base,
            outcome: "cooldown",
            rule: rule.name,
            message: `"${rule.name}" already fired for ${rendered.selector} within its ${rule.cooldownSeconds} s cooldown; nothing was collected`,
          });
          continue;
        }
        try {
          const collection = await collections.create(
            who,
            {
              action: rule.action,
              selector: rendered.selector,
              environment: rule.environment,
              params: { ...rule.params },
              reason: reasonFor(rule.name, alertname, alert.annotations),
              maxConcurrency: rule.maxConcurrency,
              maxErrors: rule.maxErrors,
            },
            { rule: rule.name, fingerprint, alertname },
          );
          filed.set(key, collection.id);
          reports.push({
            ...base,
            outcome: "collected",
            rule: rule.name,
            collectionId: collection.id,
            message: `collection ${collection.id} filed (${collection.status}) over ${collection.targets.length} agent(s)`,
          });
        } catch (err) {
          if (!(err instanceof ControllerError)) throw err;
          reports.push({
            ...base,
            outcome: "refused",
            rule: rule.name,
            message: `${err.code}: ${err.message}`,
          });
        }
      }
    }
    const counts = countBy(reports.map((r) => r.outcome));
    const message =
      filed.size > 0
        ? `${filed.size} collection(s) filed from ${payload.alerts.length} alert(s)`
        : `nothing collected from ${payload.alerts.length} alert(s): ${Object.entries(counts)
            .map(([k, v]) => `${v} ${k}`)
            .join(", ")}`;
    await store.appendAudit(
      [
        {
          actor: who.subject,
          event: "trigger.received",
          details: {
            receiver: payload.receiver ?? null,
            groupKey: payload.groupKey ?? null,
            alerts: payload.alerts.length,
            outcomes: counts,
            collections: [...filed.values()],
            // Bounded: a huge group must not make one audit record huge.
            reports: reports.slice(0, 50).map((r) => ({
              fingerprint: r.fingerprint,
              alertname: r.alertname ?? null,
              outcome: r.outcome,
              ...(r.rule ? { rule: r.rule } : {}),
            })),
          },
        },
      ],
      now(),
    );
    this.deps.log.info({ alerts: payload.alerts.length, outcomes: counts }, message);
    return { received: payload.alerts.length, collections: [...filed.values()], alerts: reports, message };
  }
}

/**
 * The cooldown key of a rule firing: the rule and the selector the alert's labels rendered, which is
 * exactly what decides the collection it would file. Same selector, same key, whatever else the
 * alert carries.
 */
export function cooldownKey(rule: string, selector: string): string {
  return `${rule}:${createHash("sha256").update(selector).digest("hex").slice(0, 32)}`;
}

/** The controller's fingerprint of an alert: its labels, sorted (what the reports and audit name). */
function fingerprintOf(labels: Readonly<Record<string, string>>): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex").slice(0, 16);
}

function reasonFor(
  rule: string,
  alertname: string | undefined,
  annotations: Readonly<Record<string, string>>,
): string {
  const summary = annotations.summary ?? annotations.description ?? "";
  const text = `alert ${alertname ?? "(unnamed)"} triggered rule ${rule}${summary ? `: ${summary}` : ""}`;
  return text.replace(/\s+/g, " ").slice(0, MAX_REASON_LENGTH);
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
