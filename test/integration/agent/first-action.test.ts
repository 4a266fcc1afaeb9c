/**
 * The class of issue 16's finding 1: no action may depend on another having run first. For every
 * action in the registry (a new action must be added to PARAMS below, or this test fails), a fresh
 * agent whose first request is that action masks the target's env secret wherever the action's
 * output carries it: a real workload process holds the secret in its environment, on its command
 * line, in its log and in its heap.
 */
import { randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBundleAction } from "../../../agent/actions/bundle.js";
import { createCpuProfileAction } from "../../../agent/actions/cpu-profile.js";
import { createDiagnosticReportAction } from "../../../agent/actions/diagnostic-report.js";
import { createHeapSnapshotAction } from "../../../agent/actions/heap-snapshot.js";
import { ACTIONS } from "../../../agent/actions/index.js";
import type { ActionDefinition } from "../../../agent/actions/types.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { startLeakyWorkload } from "../../helpers/leaky-workload.js";
import type { StartedProcess } from "../../helpers/stack.js";

const AGENT_ID = "staging/shop/shop-0";
/** 20 characters, no name or prefix, too short for the entropy rule: only a known value. */
const SECRET = `Qm7vT${randomInt(1e9).toString(36)}Zp4xWk9`.padEnd(20, "r");

let dir: string;
let logFile: string;
let signer: TestSigner;
let workload: StartedProcess;

/** Every action with params that make it carry the secret if it can. */
const PARAMS: Record<
  string,
  {
    params: () => Record<string, unknown>;
    mode: "inline" | "stream";
    /** JVM-only actions: a Node target refuses them (KH_TARGET_UNSUPPORTED), and the refusal leaks nothing. */
    refusedOnNode?: true;
  }
> = {
  "thread-dump": { params: () => ({}), mode: "inline", refusedOnNode: true },
  "class-histogram": { params: () => ({}), mode: "inline", refusedOnNode: true },
  "vm-info": { params: () => ({}), mode: "inline", refusedOnNode: true },
  "process-info": { params: () => ({}), mode: "inline" },
  env: { params: () => ({}), mode: "inline" },
  "log-tail": { params: () => ({ file: logFile, lines: 50 }), mode: "inline" },
  "net-connections": { params: () => ({}), mode: "inline" },
  "heap-snapshot": { params: () => ({}), mode: "stream" },
  "cpu-profile": { params: () => ({ seconds: 1 }), mode: "inline" },
  "diagnostic-report": { params: () => ({}), mode: "inline" },
  bundle: {
    params: () => ({ actions: [{ action: "log-tail", params: { file: logFile, lines: 50 } }] }),
    mode: "stream",
  },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-first-action-"));
  logFile = join(dir, "app.log");
  signer = await makeSigner();
  workload = await startLeakyWorkload({
    name: `first-action-${process.pid}`,
    env: { API_PASSWORD: SECRET },
    args: ["--connect", `svc:${SECRET}`],
    logFile,
    lines: [`debug: upstream accepted ${SECRET}`, `debug: blob ${Buffer.from(SECRET).toString("base64")}`],
    linesFile: join(dir, "lines.json"),
  });
});

afterAll(async () => {
  await workload?.stop(0);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh agent: nothing learned, as after a start. */
function freshApp() {
  const config = loadAgentConfig(
    {
      id: AGENT_ID,
      environment: "staging",
      trustedKeys: "unused",
      target: String(workload.pid),
      logRoot: [dir],
    },
    {},
  );
  const singles = new Map<string, ActionDefinition>([...ACTIONS].filter(([name]) => name !== "bundle"));
  singles.set("heap-snapshot", createHeapSnapshotAction({ cooldownMs: 0 }) as ActionDefinition);
  singles.set("cpu-profile", createCpuProfileAction() as ActionDefinition);
  singles.set("diagnostic-report", createDiagnosticReportAction() as ActionDefinition);
  const registry = new Map([...singles, ["bundle", createBundleAction(singles) as ActionDefinition]]);
  return buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 3) }),
    logger: false,
  });
}

describe("no action depends on another having run first (issue 16, finding 1's class)", () => {
  it("lists every action of the registry", () => {
    expect(Object.keys(PARAMS).sort()).toEqual([...ACTIONS.keys()].sort());
  });

  for (const [action, { params, mode, refusedOnNode }] of Object.entries(PARAMS)) {
    it(`finding 1: ${action} as the first request after start masks the target's env secret`, async () => {
      const app = freshApp();
      try {
        const body = await signer.sign(claimsFor({ action, params: params(), output: { mode } }));
        const res = await app.inject({
          method: "POST",
          url: "/v1/requests",
          headers: { "content-type": "application/jwt" },
          body,
        });
        expect(res.statusCode, res.body.slice(0, 300)).toBe(refusedOnNode ? 422 : 200);
        if (refusedOnNode) expect(res.json().error.code).toBe("KH_TARGET_UNSUPPORTED");
        const out = res.rawPayload.toString("latin1");
        expect(out.length).toBeGreaterThan(0);
        expect(out.includes(SECRET), `${action} returned the secret`).toBe(false);
        expect(out.includes(Buffer.from(SECRET).toString("base64")), `${action} returned its base64`).toBe(
          false,
        );
      } finally {
        await app.close();
      }
    });
  }
});
