/**
 * The agent's telemetry on `@opentelemetry/sdk-node`, loaded only when configured (index.ts).
 *
 * Per request: one span `keyhole.agent.request` (server) from arrival to last byte, a child of the
 * envelope's `traceparent`; metrics `keyhole.agent.requests` (`action`, `outcome`),
 * `keyhole.agent.refusals` (`code`), `keyhole.agent.action.duration` (ms, `action`, `outcome`) and
 * `keyhole.agent.bytes_out` (By, `action`).
 */
import { metrics, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { NodeSDK } from "@opentelemetry/sdk-node";
import type { AgentTelemetry } from "./index.js";

const SCOPE = "keyhole-agent";
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function parentContext(traceparent: string | undefined) {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
  });
}

/**
 * Starts the SDK (unless `sdk: false`: this process started it already, as in-process tests do)
 * and returns the agent's instruments.
 */
export async function startAgentOtel(
  env: Readonly<Record<string, string | undefined>>,
  options: { sdk?: boolean } = {},
): Promise<AgentTelemetry> {
  let sdk: NodeSDK | undefined;
  if (options.sdk !== false) {
    sdk = new NodeSDK({
      ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: "keyhole-agent" }),
      instrumentations: [],
    });
    sdk.start();
  }
  const tracer = trace.getTracer(SCOPE);
  const meter = metrics.getMeter(SCOPE);
  const requests = meter.createCounter("keyhole.agent.requests", {
    description: "Requests by action and outcome",
  });
  const refusals = meter.createCounter("keyhole.agent.refusals", { description: "Refusals by code" });
  const duration = meter.createHistogram("keyhole.agent.action.duration", {
    description: "From request received to last byte sent",
    unit: "ms",
  });
  const bytesOut = meter.createCounter("keyhole.agent.bytes_out", {
    description: "Bytes answered",
    unit: "By",
  });
  return {
    enabled: true,
    requestDone(done) {
      const action = done.action ?? "unknown";
      const span = tracer.startSpan(
        "keyhole.agent.request",
        {
          kind: SpanKind.SERVER,
          startTime: done.startedAt,
          attributes: {
            "keyhole.action": action,
            "keyhole.outcome": done.outcome,
            "keyhole.bytes_out": done.bytesOut,
            ...(done.requestId ? { "keyhole.request.jti": done.requestId } : {}),
            ...(done.subject ? { "enduser.id": done.subject } : {}),
          },
        },
        parentContext(done.traceparent),
      );
      if (done.outcome !== "ok") {
        span.setAttribute("keyhole.error.code", done.outcome);
        span.setStatus({ code: SpanStatusCode.ERROR, message: done.outcome });
      }
      span.end(done.startedAt + done.durationMs);
      requests.add(1, { action, outcome: done.outcome });
      if (done.outcome !== "ok") refusals.add(1, { code: done.outcome, action });
      duration.record(done.durationMs, { action, outcome: done.outcome });
      bytesOut.add(done.bytesOut, { action });
    },
    shutdown: async () => {
      await sdk?.shutdown();
    },
  };
}
