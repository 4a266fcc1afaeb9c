/**
 * The controller's telemetry seam. Everything the controller reports to OpenTelemetry goes through
 * this small interface, so the request path never imports OpenTelemetry itself: with no `OTEL_*`
 * variable set, `startControllerTelemetry` returns NO_TELEMETRY (every method a no-op) and the SDK
 * is never loaded, so it costs nothing and has no import side effects. Configured, it loads
 * `./otel.js`, which starts `@opentelemetry/sdk-node` from the standard `OTEL_*` variables.
 *
 * Traces are continued explicitly, by W3C `traceparent` strings, rather than through an ambient
 * context: a request's trace enters with the CLI's `traceparent` header, is remembered with the
 * request id until the request is dispatched (possibly much later, after approval), and leaves in
 * the envelope's `traceparent` claim.
 */
import type { AuditRecord } from "../audit/chain.js";

export type Attributes = Readonly<Record<string, string | number | boolean | undefined>>;

export interface SpanHandle {
  /** This span's W3C trace context, to pass on; undefined when tracing is off. */
  readonly traceparent: string | undefined;
  setAttributes(attributes: Attributes): void;
  /** Ends the span; an error marks it failed with its code. */
  end(error?: { readonly code: string; readonly message?: string }): void;
}

export interface ControllerTelemetry {
  readonly enabled: boolean;
  /** Starts a span, a child of `parent` (a traceparent) when given, else a new trace. */
  span(
    name: string,
    options?: {
      parent?: string | undefined;
      kind?: "server" | "client" | "internal";
      attributes?: Attributes;
    },
  ): SpanHandle;
  /** Keeps a request's trace until its dispatch (bounded; the oldest are forgotten first). */
  rememberTrace(requestId: string, traceparent: string | undefined): void;
  /** The remembered trace of a request, forgotten once read by the final dispatch. */
  traceOf(requestId: string): string | undefined;
  forgetTrace(requestId: string): void;
  /** A request reached an outcome: completed, failed, refused, denied or expired. */
  requestFinished(attributes: { action: string; environment: string; outcome: string }): void;
  /** A coded refusal, by the controller's policy or an agent. */
  refused(attributes: {
    code: string;
    action: string;
    environment: string;
    by: "controller" | "agent";
  }): void;
  /** How long a dispatched action took, from envelope sent to answer stored. */
  actionDuration(attributes: { action: string; environment: string; outcome: string }, ms: number): void;
  /** Bytes of result or artifact an action returned. */
  bytesReturned(attributes: { action: string; environment: string }, bytes: number): void;
  /** Registers the source of the approvals-pending gauge. */
  observePending(count: () => Promise<number>): void;
  /** Emits audit records as OpenTelemetry log records. */
  auditRecords(records: readonly AuditRecord[]): void;
  /** Flushes and stops the SDK. */
  shutdown(): Promise<void>;
}

const NO_SPAN: SpanHandle = { traceparent: undefined, setAttributes: () => {}, end: () => {} };

/** Telemetry that does nothing (OpenTelemetry off). */
export const NO_TELEMETRY: ControllerTelemetry = Object.freeze({
  enabled: false,
  span: () => NO_SPAN,
  rememberTrace: () => {},
  traceOf: () => undefined,
  forgetTrace: () => {},
  requestFinished: () => {},
  refused: () => {},
  actionDuration: () => {},
  bytesReturned: () => {},
  observePending: () => {},
  auditRecords: () => {},
  shutdown: async () => {},
});

/**
 * True when any standard `OTEL_*` variable is set (and OTEL_SDK_DISABLED is not "true"): the
 * operator asked for OpenTelemetry, and the SDK takes its exporters, endpoints and intervals from
 * those variables.
 */
export function otelConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  return Object.entries(env).some(
    ([name, value]) => name.startsWith("OTEL_") && value !== undefined && value !== "",
  );
}

/** What tests hand the SDK instead of the exporters the variables name. */
export interface SdkOverrides {
  // biome-ignore lint/suspicious/noExplicitAny: SDK component types stay out of this module on purpose
  readonly spanProcessors?: any[];
  // biome-ignore lint/suspicious/noExplicitAny: as above
  readonly metricReaders?: any[];
  // biome-ignore lint/suspicious/noExplicitAny: as above
  readonly logRecordProcessors?: any[];
}

/** Starts OpenTelemetry for `service` when configured, else returns NO_TELEMETRY without loading it. */
export async function startControllerTelemetry(
  env: Readonly<Record<string, string | undefined>>,
  options: { service?: string; overrides?: SdkOverrides } = {},
): Promise<ControllerTelemetry> {
  if (!options.overrides && !otelConfigured(env)) return NO_TELEMETRY;
  const { startOtel } = await import("./otel.js");
  return startOtel(env, options.service ?? "keyhole-controller", options.overrides);
}
