/**
 * The agent's telemetry seam: one call per request it answered, accepted or refused. With no
 * `OTEL_*` variable set, `startAgentTelemetry` returns NO_AGENT_TELEMETRY and OpenTelemetry is never
 * loaded (no cost, no import side effects); configured, `./otel.js` starts `@opentelemetry/sdk-node`
 * from the standard variables. The span of an accepted request continues the trace named by the
 * envelope's signed `traceparent` claim.
 */

/** What the agent knows about one request once it has answered it (its last byte sent, if streamed). */
export interface AgentRequestDone {
  /** Epoch milliseconds when the request arrived. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** The verified envelope's trace context; absent for a refusal before verification. */
  readonly traceparent?: string | undefined;
  readonly requestId?: string | undefined;
  readonly subject?: string | undefined;
  readonly action?: string | undefined;
  /** `ok` or the refusal's KH_* code. */
  readonly outcome: string;
  readonly bytesOut: number;
}

export interface AgentTelemetry {
  readonly enabled: boolean;
  requestDone(done: AgentRequestDone): void;
  shutdown(): Promise<void>;
}

export const NO_AGENT_TELEMETRY: AgentTelemetry = Object.freeze({
  enabled: false,
  requestDone: () => {},
  shutdown: async () => {},
});

/** True when any standard `OTEL_*` variable is set, unless OTEL_SDK_DISABLED is "true". */
export function otelConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  return Object.entries(env).some(
    ([name, value]) => name.startsWith("OTEL_") && value !== undefined && value !== "",
  );
}

/** Starts OpenTelemetry for the agent when configured; else NO_AGENT_TELEMETRY, without loading it. */
export async function startAgentTelemetry(
  env: Readonly<Record<string, string | undefined>>,
): Promise<AgentTelemetry> {
  if (!otelConfigured(env)) return NO_AGENT_TELEMETRY;
  const { startAgentOtel } = await import("./otel.js");
  return startAgentOtel(env);
}
