/**
 * The controller's telemetry on `@opentelemetry/sdk-node`: loaded only when OpenTelemetry is
 * configured (see index.ts). The SDK reads the standard `OTEL_*` variables (exporters, endpoints,
 * protocol, sampler, export intervals, resource attributes); we add the instruments.
 *
 * Metrics (all with `action` and `environment`):
 * - `keyhole.controller.requests` (counter, `outcome`): requests by outcome;
 * - `keyhole.controller.refusals` (counter, `code`, `by`): coded refusals;
 * - `keyhole.controller.action.duration` (histogram, ms, `outcome`): dispatch to stored answer;
 * - `keyhole.controller.bytes_returned` (counter, By): result and artifact bytes;
 * - `keyhole.controller.approvals_pending` (gauge): requests waiting for approval.
 * Audit records become log records (event name as body, every field as an attribute).
 */
import { type Context, metrics, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { logs, SeverityNumber } from "@opentelemetry/api-logs";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { canonicalJson } from "../audit/canonical-json.js";
import type { Attributes, ControllerTelemetry, SdkOverrides, SpanHandle } from "./index.js";

const SCOPE = "keyhole";
const MAX_REMEMBERED = 10_000;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context of a remote parent, or the root context for a missing or malformed traceparent. */
export function contextOf(traceparent: string | undefined): Context {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
  });
}

/** A span's W3C traceparent. */
export function traceparentOf(span: {
  spanContext(): { traceId: string; spanId: string; traceFlags: number };
}): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, "0")}`;
}

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;

function clean(attributes: Attributes | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(attributes ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/** Starts the SDK (unless `sdk: false`: another part of this process started it) and builds the telemetry. */
export async function startOtel(
  env: Readonly<Record<string, string | undefined>>,
  service: string,
  overrides: SdkOverrides | undefined,
  options: { sdk?: boolean } = {},
): Promise<ControllerTelemetry> {
  let sdk: NodeSDK | undefined;
  if (options.sdk !== false) {
    sdk = new NodeSDK({
      // OTEL_SERVICE_NAME, when set, wins over our default name.
      ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: service }),
      instrumentations: [],
      ...(overrides?.spanProcessors ? { spanProcessors: overrides.spanProcessors } : {}),
      ...(overrides?.metricReaders ? { metricReaders: overrides.metricReaders } : {}),
      ...(overrides?.logRecordProcessors ? { logRecordProcessors: overrides.logRecordProcessors } : {}),
    });
    sdk.start();
  }
  const tracer = trace.getTracer(SCOPE);
  const meter = metrics.getMeter(SCOPE);
  const logger = logs.getLogger(SCOPE);
  const requests = meter.createCounter("keyhole.controller.requests", {
    description: "Requests by action, environment and outcome",
  });
  const refusals = meter.createCounter("keyhole.controller.refusals", {
    description: "Coded refusals by the controller's policy or by agents",
  });
  const duration = meter.createHistogram("keyhole.controller.action.duration", {
    description: "From envelope sent to answer stored",
    unit: "ms",
  });
  const bytes = meter.createCounter("keyhole.controller.bytes_returned", {
    description: "Bytes of results and artifacts returned by actions",
    unit: "By",
  });
  const pending = meter.createObservableGauge("keyhole.controller.approvals_pending", {
    description: "Requests waiting for approval",
  });
  let pendingSource: (() => Promise<number>) | undefined;
  pending.addCallback(async (result) => {
    if (pendingSource) result.observe(await pendingSource());
  });
  const remembered = new Map<string, string>();

  return {
    enabled: true,
    span(name, options = {}): SpanHandle {
      const span = tracer.startSpan(
        name,
        { kind: KINDS[options.kind ?? "internal"], attributes: clean(options.attributes) },
        contextOf(options.parent),
      );
      return {
        traceparent: traceparentOf(span),
        setAttributes: (attributes) => span.setAttributes(clean(attributes)),
        end: (error) => {
          if (error) {
            span.setAttribute("keyhole.error.code", error.code);
            span.setStatus({
              code: SpanStatusCode.ERROR,
              message: `${error.code}${error.message ? `: ${error.message}` : ""}`,
            });
          }
          span.end();
        },
      };
    },
    rememberTrace(requestId, traceparent) {
      if (!traceparent) return;
      if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
      remembered.set(requestId, traceparent);
    },
    traceOf: (requestId) => remembered.get(requestId),
    forgetTrace: (requestId) => void remembered.delete(requestId),
    requestFinished: (attributes) => requests.add(1, attributes),
    refused: (attributes) => refusals.add(1, attributes),
    actionDuration: (attributes, ms) => duration.record(ms, attributes),
    bytesReturned: (attributes, n) => bytes.add(n, attributes),
    observePending(count) {
      pendingSource = count;
    },
    auditRecords(records) {
      for (const r of records) {
        logger.emit({
          severityNumber: SeverityNumber.INFO,
          severityText: "INFO",
          body: r.event,
          timestamp: new Date(r.time),
          attributes: {
            "event.name": `keyhole.audit.${r.event}`,
            "keyhole.audit.seq": r.seq,
            "keyhole.audit.actor": r.actor,
            "keyhole.audit.event": r.event,
            "keyhole.audit.hash": r.hash,
            "keyhole.audit.prev_hash": r.prevHash,
            ...(r.requestId ? { "keyhole.request.id": r.requestId } : {}),
            ...(r.reason ? { "keyhole.audit.reason": r.reason } : {}),
            ...(r.ticket ? { "keyhole.audit.ticket": r.ticket } : {}),
            "keyhole.audit.details": canonicalJson(r.details),
          },
        });
      }
    },
    shutdown: async () => {
      await sdk?.shutdown();
    },
  };
}
