/**
 * OpenTelemetry end to end: a real controller, a real agent and the real CLI, each its own process
 * started through the `keyhole` executable, export to a real OTLP/HTTP receiver on loopback. One
 * trace id spans the CLI's span, the controller's request and dispatch spans and the agent's span;
 * the metrics count what happened; the audit events arrive as log records.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OtlpReceiver, startOtlpReceiver } from "../helpers/otlp-receiver.js";
import { Stack } from "../helpers/stack.js";

const AGENT = "staging/shop/shop-0";
const stack = new Stack("otlp");
let receiver: OtlpReceiver;
let ran: { code: number | null; stdout: string; stderr: string };
let refused: { code: number | null; stdout: string; stderr: string };

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  stack.onStop(() => receiver.close());
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_METRIC_EXPORT_INTERVAL: "60000",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_BLRP_SCHEDULE_DELAY: "100",
  };
  await stack.start({
    workload: {},
    agents: [{ id: AGENT, environment: "staging", actions: ["process-info", "env"], env: otel }],
    policy:
      'environments:\n  staging: { approvals: 0 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n',
    tokens: { alice: { subject: "user:alice@example.com", groups: ["sre"] } },
    controller: { env: otel },
  });
  const cli = { ...otel, ...stack.as("alice") };
  ran = await stack.keyhole(
    ["run", "process-info", "--target", AGENT, "--reason", "otel e2e", "--wait", "--json"],
    cli,
    60_000,
  );
  refused = await stack.keyhole(
    ["run", "net-connections", "--target", AGENT, "--reason", "otel e2e", "--wait", "--json"],
    cli,
    60_000,
  );
  // SIGTERM: each service flushes its spans, metrics and logs before it exits.
  await stack.controller!.stop(10_000);
  await stack.agent(AGENT).stop(10_000);
}, 90_000);

afterAll(() => stack.stop(2000));

describe("a real OTLP/HTTP receiver", () => {
  it("one trace id spans the CLI, the controller's decision and dispatch, and the agent's action", () => {
    expect(ran.code, ran.stderr).toBe(0);
    const requestId = JSON.parse(ran.stdout).request.id as string;
    const cli = receiver.spans.find(
      (s) => s.service === "keyhole-cli" && s.attributes["keyhole.request.id"] === requestId,
    );
    expect(cli?.name).toBe("keyhole.cli.run");
    const trace = receiver.spans.filter((s) => s.traceId === cli?.traceId);
    const named = (name: string) => trace.find((s) => s.name === name);
    expect(named("keyhole.request.create")).toMatchObject({
      service: "keyhole-controller",
      parentSpanId: cli?.spanId,
    });
    expect(named("keyhole.dispatch")).toMatchObject({
      service: "keyhole-controller",
      parentSpanId: named("keyhole.request.create")?.spanId,
    });
    expect(named("keyhole.agent.request")).toMatchObject({
      service: "keyhole-agent",
      parentSpanId: named("keyhole.dispatch")?.spanId,
      attributes: expect.objectContaining({ "keyhole.action": "process-info", "keyhole.outcome": "ok" }),
    });
  });

  it("the metrics count what happened", () => {
    expect(refused.code).toBe(1);
    // Cumulative series: the last point of each series is its total.
    const last = (service: string, metric: string, match: Record<string, unknown>) =>
      receiver.points
        .filter(
          (p) =>
            p.service === service &&
            p.metric === metric &&
            Object.entries(match).every(([k, v]) => p.attributes[k] === v),
        )
        .at(-1)?.value;
    expect(
      last("keyhole-controller", "keyhole.controller.requests", {
        action: "process-info",
        outcome: "completed",
      }),
    ).toBe(1);
    expect(
      last("keyhole-controller", "keyhole.controller.requests", {
        action: "net-connections",
        outcome: "failed",
      }),
    ).toBe(1);
    expect(
      last("keyhole-controller", "keyhole.controller.refusals", { code: "KH_ACTION_DISABLED", by: "agent" }),
    ).toBe(1);
    expect(last("keyhole-agent", "keyhole.agent.requests", { action: "process-info", outcome: "ok" })).toBe(
      1,
    );
    expect(last("keyhole-agent", "keyhole.agent.refusals", { code: "KH_ACTION_DISABLED" })).toBe(1);
    expect(last("keyhole-agent", "keyhole.agent.bytes_out", { action: "process-info" })).toBeGreaterThan(100);
  });

  it("audit events arrive as log records", () => {
    const events = receiver.logs.filter((l) => l.service === "keyhole-controller").map((l) => l.body);
    expect(events).toEqual(
      expect.arrayContaining([
        "request.created",
        "request.approved",
        "request.dispatched",
        "request.completed",
        "request.failed",
      ]),
    );
  });
});
