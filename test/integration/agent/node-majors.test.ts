/**
 * The agent against workloads on every supported Node major (20, 22, 24): the agent itself runs on
 * Node 24, but the targets it serves may run any of them, and the inspector protocol, the SIGUSR1
 * opening and the closing expression must work on each. Per major: a real workload started with
 * that Node, and through buildApp() with signed envelopes a masked heap-snapshot, a cpu-profile and
 * a diagnostic-report; after each the target's inspector is closed again and the target alive.
 *
 * Binaries: test/helpers/node-majors.ts (KEYHOLE_TEST_NODE<major>, else .ci/node-of-major). A major
 * that cannot be had fails here with the reason; outside CI, KEYHOLE_TEST_SKIP_NODE_MAJORS skips it.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCpuProfileAction } from "../../../agent/actions/cpu-profile.js";
import { createDiagnosticReportAction } from "../../../agent/actions/diagnostic-report.js";
import { createHeapSnapshotAction } from "../../../agent/actions/heap-snapshot.js";
import { ACTIONS } from "../../../agent/actions/index.js";
import type { ActionDefinition } from "../../../agent/actions/types.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { loopbackListeners } from "../../../agent/runtimes/node/listeners.js";
import { TargetLocks } from "../../../agent/runtimes/node/target-locks.js";
import { pollUntil } from "../../../agent/runtimes/node/wait.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { DB_PASSWORD, PLANTED, startTarget, type Target } from "../../helpers/inspector-target.js";
import { nodeOfMajor, skippedMajors } from "../../helpers/node-majors.js";

const MAJORS = [20, 22, 24] as const;
const ports = (pid: number) => [...new Set(loopbackListeners(pid).map((l) => l.port))].sort();

let signer: TestSigner;
beforeAll(async () => {
  signer = await makeSigner();
});

async function call(
  app: FastifyInstance,
  action: string,
  params: Record<string, unknown>,
  mode: "inline" | "stream",
) {
  const body = await signer.sign(claimsFor({ action, params, output: { mode } }));
  return app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { "content-type": "application/jwt" },
    body,
  });
}

for (const major of MAJORS) {
  const skip = skippedMajors().has(major);
  describe.skipIf(skip)(
    `a workload on Node ${major}${skip ? " (skipped: KEYHOLE_TEST_SKIP_NODE_MAJORS)" : ""}`,
    () => {
      let target: Target;
      let version: string;
      let baseline: number[];
      let app: FastifyInstance;

      beforeAll(async () => {
        const node = nodeOfMajor(major);
        if (node.kind !== "found") throw new Error(node.reason);
        version = node.version;
        target = await startTarget(["--inspect-port=0"], {}, node.bin);
        baseline = ports(target.pid);
        const locks = new TargetLocks();
        const config = loadAgentConfig(
          {
            id: "staging/shop/shop-0",
            environment: "staging",
            trustedKeys: "unused",
            target: String(target.pid),
          },
          {},
        );
        app = buildApp(config, {
          trustedKeys: signer.trustedKeys,
          registry: new Map<string, ActionDefinition>([
            ...ACTIONS,
            ["heap-snapshot", createHeapSnapshotAction({ cooldownMs: 0, locks }) as ActionDefinition],
            ["cpu-profile", createCpuProfileAction({ locks }) as ActionDefinition],
            ["diagnostic-report", createDiagnosticReportAction({ locks }) as ActionDefinition],
          ]),
          redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
          logger: false,
        });
      }, 300_000);
      afterAll(async () => {
        await app?.close();
        await target?.stop();
      });

      /** The target's inspector closed again (only its HTTP port listening) and the target alive. */
      async function expectClosedAndAlive(): Promise<void> {
        await pollUntil(() => (ports(target.pid).join() === baseline.join() ? true : undefined), 5_000);
        expect(ports(target.pid)).toEqual(baseline);
        expect(target.child.exitCode).toBeNull();
        expect(target.child.signalCode).toBeNull();
      }

      it("diagnostic-report: the report of that Node, its secret masked", async () => {
        const res = await call(app, "diagnostic-report", {}, "inline");
        expect(res.statusCode, res.body).toBe(200);
        const report = res.json().result;
        expect(report.header.nodejsVersion).toBe(version);
        expect(report.header.processId).toBe(target.pid);
        expect(report.environmentVariables.DATABASE_PASSWORD).toMatch(/^⟦masked:/);
        expect(JSON.stringify(report)).not.toContain(DB_PASSWORD);
        await expectClosedAndAlive();
      });

      it("heap-snapshot: a valid snapshot, masked", async () => {
        const res = await call(app, "heap-snapshot", {}, "stream");
        expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
        const text = res.rawPayload.toString("utf8");
        expect(text.includes(PLANTED)).toBe(false);
        expect(text).toContain("⟦masked:github-token:");
        const snapshot = JSON.parse(text);
        const meta = snapshot.snapshot.meta;
        expect(snapshot.snapshot.node_count).toBeGreaterThan(30_000);
        expect(snapshot.nodes.length).toBe(snapshot.snapshot.node_count * meta.node_fields.length);
        expect(snapshot.edges.length).toBe(snapshot.snapshot.edge_count * meta.edge_fields.length);
        await expectClosedAndAlive();
      });

      it("cpu-profile: a profile of the requested length", async () => {
        const res = await call(app, "cpu-profile", { seconds: 1 }, "inline");
        expect(res.statusCode, res.body).toBe(200);
        const profile = res.json().result;
        expect(profile.nodes.length).toBeGreaterThan(0);
        expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(900_000);
        await expectClosedAndAlive();
      });
    },
  );
}
