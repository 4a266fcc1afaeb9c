/** OpenTelemetry is off unless an OTEL_* variable is set, and then nothing of it is loaded. */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  otelConfigured as agentConfigured,
  NO_AGENT_TELEMETRY,
  startAgentTelemetry,
} from "../../../agent/telemetry/index.js";
import {
  NO_TELEMETRY,
  otelConfigured,
  startControllerTelemetry,
} from "../../../controller/telemetry/index.js";

describe("telemetry switch", () => {
  it("is on only when some OTEL_* variable is set, and OTEL_SDK_DISABLED=true wins", () => {
    for (const configured of [otelConfigured, agentConfigured]) {
      expect(configured({ PATH: "/bin", KEYHOLE_URL: "x" })).toBe(false);
      expect(configured({ OTEL_EXPORTER_OTLP_ENDPOINT: "" })).toBe(false);
      expect(configured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toBe(true);
      expect(configured({ OTEL_SERVICE_NAME: "k" })).toBe(true);
      expect(configured({ OTEL_SERVICE_NAME: "k", OTEL_SDK_DISABLED: "true" })).toBe(false);
    }
  });

  it("returns the no-op telemetry without starting anything", async () => {
    expect(await startControllerTelemetry({ PATH: "/bin" })).toBe(NO_TELEMETRY);
    expect(await startAgentTelemetry({ PATH: "/bin" })).toBe(NO_AGENT_TELEMETRY);
    const span = NO_TELEMETRY.span("x", {
      parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    });
    expect(span.traceparent).toBeUndefined();
  });

  it("loads no OpenTelemetry module when off (checked in a fresh process on the built code)", () => {
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const script = `
      const { startControllerTelemetry } = await import("${root}dist/controller/telemetry/index.js");
      const { startAgentTelemetry } = await import("${root}dist/agent/telemetry/index.js");
      await startControllerTelemetry({});
      await startAgentTelemetry({});
      const { createRequire } = await import("node:module");
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes("@opentelemetry"));
      console.log(JSON.stringify({ loaded, otelGlobal: Object.getOwnPropertySymbols(globalThis).map(String).filter((s) => s.includes("opentelemetry")) }));
    `;
    const out = JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }),
    );
    expect(out).toEqual({ loaded: [], otelGlobal: [] });
  });
});
