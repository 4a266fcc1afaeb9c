/**
 * The controller's request metrics, derived from the audit chain as it grows: every outcome the
 * metrics count is a record in the chain, so the two can never disagree, and the request path
 * carries no metric code at all. Records arrive in chain order from the checkpointer's follower.
 * Several replicas on one database each see every record: take one replica's series (or `max`),
 * not their sum.
 */
import type { AuditRecord } from "../audit/chain.js";
import type { RequestRecord } from "../store/types.js";
import type { ControllerTelemetry } from "./index.js";

interface Known {
  action: string;
  environment: string;
  dispatchedAt?: number;
}

const MAX_KNOWN = 10_000;
const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

export class AuditMetrics {
  private readonly known = new Map<string, Known>();

  constructor(
    private readonly telemetry: ControllerTelemetry,
    private readonly getRequest: (id: string) => Promise<RequestRecord | undefined>,
  ) {}

  async observe(records: readonly AuditRecord[]): Promise<void> {
    for (const record of records) await this.one(record);
  }

  private async one(record: AuditRecord): Promise<void> {
    const t = this.telemetry;
    const d = record.details;
    const at = Date.parse(record.time);
    switch (record.event) {
      case "request.created":
        if (record.requestId)
          this.remember(record.requestId, { action: String(d.action), environment: String(d.environment) });
        return;
      case "request.refused": {
        const action = text(d.action) ?? "unknown";
        const environment = text(d.environment) ?? "unknown";
        t.requestFinished({ action, environment, outcome: "refused" });
        t.refused({ code: text(d.code) ?? "KH_POLICY_DENIED", action, environment, by: "controller" });
        return;
      }
      case "request.dispatched": {
        const known = await this.lookup(record.requestId);
        if (known) known.dispatchedAt = at;
        return;
      }
      case "artifact.stored": {
        const known = await this.lookup(record.requestId);
        if (known && typeof d.size === "number")
          t.bytesReturned({ action: known.action, environment: known.environment }, d.size);
        return;
      }
      case "request.completed":
      case "request.failed":
      case "request.denied":
      case "request.expired": {
        const known = await this.lookup(record.requestId);
        if (!known) return;
        const attributes = { action: known.action, environment: known.environment };
        const outcome = record.event.slice("request.".length);
        t.requestFinished({ ...attributes, outcome });
        if (known.dispatchedAt !== undefined && (outcome === "completed" || outcome === "failed"))
          t.actionDuration({ ...attributes, outcome }, Math.max(0, at - known.dispatchedAt));
        if (outcome === "completed" && typeof d.resultBytes === "number")
          t.bytesReturned(attributes, d.resultBytes);
        // A failure with an HTTP status is the agent's coded refusal; without one, the controller's.
        if (outcome === "failed" && text(d.code))
          t.refused({
            code: String(d.code),
            ...attributes,
            by: typeof d.httpStatus === "number" ? "agent" : "controller",
          });
        if (record.requestId) this.known.delete(record.requestId);
        return;
      }
      default:
        return;
    }
  }

  private remember(id: string, known: Known): Known {
    if (this.known.size >= MAX_KNOWN) this.known.delete(this.known.keys().next().value!);
    this.known.set(id, known);
    return known;
  }

  /** What we know of a request, from an earlier record or (created before we started) the store. */
  private async lookup(id: string | null): Promise<Known | undefined> {
    if (!id) return undefined;
    const known = this.known.get(id);
    if (known) return known;
    const request = await this.getRequest(id).catch(() => undefined);
    return request && this.remember(id, { action: request.action, environment: request.environment });
  }
}
