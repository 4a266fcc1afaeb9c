/**
 * OpenTelemetry with in-memory exporters: a real controller and a real agent (in this process, over
 * real HTTP on loopback) handle requests that complete, are refused by policy, are refused by the
 * agent, and wait for approval. One trace id spans the caller's span, the controller's request and
 * dispatch spans and the agent's span; the metrics count exactly what happened; every audit record
 * is also a log record.
 */
import { rm } from "node:fs/promises";
import { logs as sdkLogs, metrics as sdkMetrics, tracing } from "@opentelemetry/sdk-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgentOtel } from "../../../agent/telemetry/otel.js";
import { loadControllerConfig } from "../../../controller/config.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { type ControllerRuntime, createController } from "../../../controller/runtime.js";
import { type ControllerTelemetry, startControllerTelemetry } from "../../../controller/telemetry/index.js";
import { startWorkload, type Workload } from "../../helpers/workload.js";
import { AGENT_ID, prepare, startAgent } from "./harness.js";

const spans = new tracing.InMemorySpanExporter();
const metricExporter = new sdkMetrics.InMemoryMetricExporter(sdkMetrics.AggregationTemporality.CUMULATIVE);
const reader = new sdkMetrics.PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const logRecords = new sdkLogs.InMemoryLogRecordExporter();

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLI_SPAN = "00f067aa0ba902b7";

let telemetry: ControllerTelemetry;
let controller: ControllerRuntime;
let workload: Workload;
let agent: Awaited<ReturnType<typeof startAgent>>;
let setup: Awaited<ReturnType<typeof prepare>>;
let alice: string;
let carol: string;

async function post(token: string, body: Record<string, unknown>, traceparent?: string) {
  const response = await controller.app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { authorization: `Bearer ${token}`, ...(traceparent ? { traceparent } : {}) },
    payload: { params: {}, reason: "telemetry test", ...body },
  });
  return { status: response.statusCode, json: JSON.parse(response.body) };
}

beforeAll(async () => {
  telemetry = await startControllerTelemetry(
    {},
    {
      overrides: {
        spanProcessors: [new tracing.SimpleSpanProcessor(spans)],
        metricReaders: [reader],
        logRecordProcessors: [new sdkLogs.SimpleLogRecordProcessor({ exporter: logRecords })],
      },
    },
  );
  workload = await startWorkload({ NODE_ENV: "test" });
  setup = await prepare(() => agent.url);
  // The SDK is per process; the agent's instruments share it here (separate processes in the OTLP test).
  agent = await startAgent(setup, workload.pid, await startAgentOtel({}, { sdk: false }));
  await setup.writeInventory();
  const config = loadControllerConfig(
    {
      dataDir: setup.dataDir,
      policy: setup.policyFile,
      inventory: setup.inventoryFile,
      signingKey: [`staging=${setup.keyFile}`],
    },
    {},
  );
  controller = await createController(config, { telemetry, auditCheckpoints: { pollMs: 50 } });
  alice = (await issueToken({ dataDir: setup.dataDir, subject: "user:alice@example.com", groups: ["sre"] }))
    .token;
  carol = (await issueToken({ dataDir: setup.dataDir, subject: "user:carol@example.com" })).token;

  expect(
    (await post(alice, { action: "process-info", target: AGENT_ID }, `00-${TRACE_ID}-${CLI_SPAN}-01`)).status,
  ).toBe(201);
  expect((await post(carol, { action: "env", target: AGENT_ID })).status).toBe(403);
  expect((await post(alice, { action: "net-connections", target: AGENT_ID })).status).toBe(201);
  expect(
    (await post(alice, { action: "process-info", target: "production/shop/shop-0" })).json.request.status,
  ).toBe("pending");
  await controller.dispatcher.whenIdle();
  await controller.checkpointer.tick();
  await reader.forceFlush();
}, 60_000);

afterAll(async () => {
  await controller?.close();
  await agent?.app.close();
  await workload?.stop();
  await telemetry?.shutdown();
  if (setup) await rm(setup.dir, { recursive: true, force: true });
});

describe("traces", () => {
  it("one trace id runs from the caller through the controller's decision and dispatch to the agent's action", () => {
    const inTrace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === TRACE_ID);
    const byName = new Map(inTrace.map((s) => [s.name, s]));
    const create = byName.get("keyhole.request.create");
    const dispatch = byName.get("keyhole.dispatch");
    const served = byName.get("keyhole.agent.request");
    expect(create?.parentSpanContext?.spanId).toBe(CLI_SPAN);
    expect(dispatch?.parentSpanContext?.spanId).toBe(create?.spanContext().spanId);
    expect(served?.parentSpanContext?.spanId).toBe(dispatch?.spanContext().spanId);
    expect(create?.attributes).toMatchObject({
      "keyhole.action": "process-info",
      "enduser.id": "user:alice@example.com",
    });
    expect(dispatch?.attributes).toMatchObject({
      "keyhole.status": "completed",
      "keyhole.environment": "staging",
    });
    expect(served?.attributes).toMatchObject({ "keyhole.action": "process-info", "keyhole.outcome": "ok" });
    expect(served?.attributes["keyhole.bytes_out"]).toBeGreaterThan(100);
  });

  it("marks refusals as errors with their code, in their own traces", () => {
    const finished = spans.getFinishedSpans();
    const refused = finished.find(
      (s) => s.name === "keyhole.request.create" && s.attributes["keyhole.error.code"] === "KH_POLICY_DENIED",
    );
    expect(refused?.spanContext().traceId).not.toBe(TRACE_ID);
    const agentRefusal = finished.find(
      (s) => s.name === "keyhole.agent.request" && s.attributes["keyhole.outcome"] === "KH_ACTION_DISABLED",
    );
    const itsDispatch = finished.find(
      (s) => s.spanContext().spanId === agentRefusal?.parentSpanContext?.spanId,
    );
    expect(itsDispatch?.name).toBe("keyhole.dispatch");
    expect(itsDispatch?.attributes["keyhole.error.code"]).toBe("KH_ACTION_DISABLED");
  });
});

/** The value of `name`'s point whose attributes include `match` (sum, gauge value or histogram count). */
function point(name: string, match: Record<string, string>): number | undefined {
  const all =
    metricExporter
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.flatMap((s) => s.metrics) ?? [];
  const metric = all.find((m) => m.descriptor.name === name);
  const found = metric?.dataPoints.find((p) =>
    Object.entries(match).every(([k, v]) => p.attributes[k] === v),
  );
  if (!found) return undefined;
  const value = found.value as number | { count: number };
  return typeof value === "number" ? value : value.count;
}

describe("metrics", () => {
  it("count requests by action and outcome, and refusals by code", () => {
    expect(
      point("keyhole.controller.requests", {
        action: "process-info",
        environment: "staging",
        outcome: "completed",
      }),
    ).toBe(1);
    expect(point("keyhole.controller.requests", { action: "env", outcome: "refused" })).toBe(1);
    expect(point("keyhole.controller.requests", { action: "net-connections", outcome: "failed" })).toBe(1);
    expect(point("keyhole.controller.refusals", { code: "KH_POLICY_DENIED", by: "controller" })).toBe(1);
    expect(point("keyhole.controller.refusals", { code: "KH_ACTION_DISABLED", by: "agent" })).toBe(1);
    expect(point("keyhole.agent.requests", { action: "process-info", outcome: "ok" })).toBe(1);
    expect(point("keyhole.agent.refusals", { code: "KH_ACTION_DISABLED" })).toBe(1);
  });

  it("measure duration, bytes returned and approvals pending", () => {
    expect(
      point("keyhole.controller.action.duration", { action: "process-info", outcome: "completed" }),
    ).toBe(1);
    expect(point("keyhole.controller.bytes_returned", { action: "process-info" })).toBeGreaterThan(100);
    expect(point("keyhole.agent.bytes_out", { action: "process-info" })).toBeGreaterThan(100);
    expect(point("keyhole.controller.approvals_pending", {})).toBe(1);
  });
});

describe("audit records as log records", () => {
  it("emits every record appended while running, with its seq and hash", async () => {
    const audit = await controller.store.listAudit();
    const emitted = logRecords.getFinishedLogRecords();
    const started = audit.find((r) => r.event === "controller.started")!.seq;
    const expected = audit.filter((r) => r.seq > started);
    expect(emitted.map((l) => l.attributes["keyhole.audit.seq"])).toEqual(expected.map((r) => r.seq));
    const completed = emitted.find((l) => l.body === "request.completed");
    expect(completed?.attributes["keyhole.audit.hash"]).toMatch(/^[0-9a-f]{64}$/);
    expect(completed?.attributes["keyhole.request.id"]).toBeTruthy();
  });
});
