/**
 * A staging agent (real HTTP on loopback, a real workload process as its target) and the pieces a
 * controller needs to reach it: a pre-generated staging signing key the agent pins, a policy and an
 * inventory with that agent plus an unreachable production one (so production requests stay pending).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { ACTIONS } from "../../../agent/actions/index.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import type { AgentTelemetry } from "../../../agent/telemetry/index.js";
import { loadTrustedKeys } from "../../../agent/trusted-keys.js";
import { generateSigningKey } from "../../../controller/keys.js";
import { closedPortUrl, TEST_POLICY } from "../controller/helpers.js";

export const AGENT_ID = "staging/shop/shop-0";

export interface Setup {
  readonly dir: string;
  readonly dataDir: string;
  readonly keyFile: string;
  readonly jwksFile: string;
  readonly policyFile: string;
  readonly inventoryFile: string;
}

/** Writes keys, policy and an inventory naming `agentUrl` (and an unreachable production agent). */
export async function prepare(agentUrl: () => string): Promise<Setup & { writeInventory(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-otel-"));
  const keys = await generateSigningKey(join(dir, "keys"), "staging");
  const setup = {
    dir,
    dataDir: join(dir, "data"),
    keyFile: keys.privateKeyPath,
    jwksFile: keys.jwksPath,
    policyFile: join(dir, "policy.yaml"),
    inventoryFile: join(dir, "inventory.yaml"),
  };
  await writeFile(setup.policyFile, TEST_POLICY);
  const nowhere = await closedPortUrl();
  return {
    ...setup,
    writeInventory: () =>
      writeFile(
        setup.inventoryFile,
        `- { id: ${AGENT_ID}, environment: staging, url: "${agentUrl()}" }\n` +
          `- { id: production/shop/shop-0, environment: production, url: "${nowhere}" }\n`,
      ),
  };
}

/** An in-process agent with two actions enabled (net-connections stays off, for a coded refusal). */
export async function startAgent(
  setup: Setup,
  targetPid: number,
  telemetry: AgentTelemetry,
): Promise<{ app: FastifyInstance; url: string }> {
  const config = loadAgentConfig(
    {
      id: AGENT_ID,
      environment: "staging",
      trustedKeys: setup.jwksFile,
      target: String(targetPid),
      actions: "process-info,env",
    },
    {},
  );
  const app = buildApp(config, {
    trustedKeys: loadTrustedKeys(config.trustedKeys),
    registry: ACTIONS,
    redactor: createRedactor({ fingerprintKey: randomBytes(32) }),
    logger: false,
    telemetry,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}
