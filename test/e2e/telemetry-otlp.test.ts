/**
 * OpenTelemetry end to end: a real controller, a real agent and the real CLI, each its own process
 * started through the `keyhole` executable, export to a real OTLP/HTTP receiver on loopback. One
 * trace id spans the CLI's span, the controller's request and dispatch spans and the agent's span;
 * the metrics count what happened; the audit events arrive as log records.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KEYHOLE_BIN,
  runKeyhole,
  SAMPLE_WORKLOAD,
  type Service,
  startProcess,
} from "../../cli/demo/processes.js";
import { type OtlpReceiver, startOtlpReceiver } from "../helpers/otlp-receiver.js";

const AGENT = "staging/shop/shop-0";
let dir: string;
let receiver: OtlpReceiver;
const services: Service[] = [];
let controllerUrl = "";
let token = "";
let ran: { code: number | null; stdout: string; stderr: string };
let refused: { code: number | null; stdout: string; stderr: string };

const isListening = (line: Record<string, unknown>) => line.msg === "listening";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-otlp-"));
  receiver = await startOtlpReceiver();
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_METRIC_EXPORT_INTERVAL: "60000",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_BLRP_SCHEDULE_DELAY: "100",
  };
  const base = { PATH: process.env.PATH };
  const keys = join(dir, "keys");
  expect((await runKeyhole(["keys", "generate", "--out", keys, "--environment", "staging"], base)).code).toBe(
    0,
  );
  const workload = await startProcess({
    name: "workload",
    args: [SAMPLE_WORKLOAD],
    env: { ...base, PORT: "0" },
    logFile: join(dir, "workload.log"),
    isReady: (line) => line.ready === true,
  });
  services.push(workload);
  const agent = await startProcess({
    name: "agent",
    args: [
      KEYHOLE_BIN,
      "agent",
      "--id",
      AGENT,
      "--environment",
      "staging",
      "--trusted-keys",
      join(keys, "jwks.json"),
      "--listen",
      "127.0.0.1:0",
      "--target",
      String(workload.pid),
      "--actions",
      "process-info,env",
    ],
    env: { ...base, ...otel },
    logFile: join(dir, "agent.log"),
    isReady: isListening,
  });
  services.push(agent);
  await writeFile(
    join(dir, "inventory.yaml"),
    `- { id: ${AGENT}, environment: staging, url: "${agent.ready.url}" }\n`,
  );
  await writeFile(
    join(dir, "policy.yaml"),
    'environments:\n  staging: { approvals: 0 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n',
  );
  const issued = await runKeyhole(
    ["token", "issue", "--subject", "user:alice@example.com", "--groups", "sre", "--data-dir", dir, "--json"],
    base,
  );
  token = JSON.parse(issued.stdout).token;
  const controller = await startProcess({
    name: "controller",
    args: [
      KEYHOLE_BIN,
      "controller",
      "--data-dir",
      dir,
      "--policy",
      join(dir, "policy.yaml"),
      "--inventory",
      join(dir, "inventory.yaml"),
      "--signing-key",
      `staging=${join(keys, "signing-key.pem")}`,
      "--listen",
      "127.0.0.1:0",
    ],
    env: { ...base, ...otel },
    logFile: join(dir, "controller.log"),
    isReady: isListening,
  });
  services.push(controller);
  controllerUrl = String(controller.ready.url);
  const cli = { ...base, ...otel, KEYHOLE_URL: controllerUrl, KEYHOLE_TOKEN: token };
  ran = await runKeyhole(
    ["run", "process-info", "--target", AGENT, "--reason", "otel e2e", "--wait", "--json"],
    cli,
  );
  refused = await runKeyhole(
    ["run", "net-connections", "--target", AGENT, "--reason", "otel e2e", "--wait", "--json"],
    cli,
  );
  // SIGTERM: each service flushes its spans, metrics and logs before it exits.
  await controller.stop(10_000);
  await agent.stop(10_000);
}, 90_000);

afterAll(async () => {
  for (const s of services.reverse()) await s.stop(2000);
  await receiver?.close();
  await rm(dir, { recursive: true, force: true });
});

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
