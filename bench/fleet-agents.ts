/**
 * Many real agents in one process, for the fleet bench: each is the agent's own `buildApp` (envelope
 * verification, replay cache, the real process-info action on a real target) on its own loopback
 * port. Prints one JSON line `{"ready":true,"agents":[{id,url}…]}` once all listen.
 *
 * With NATS_URL the agents take their envelopes over NATS instead (agent/transport/nats.ts: one
 * outbound connection each, no port), and `url` is their NATS address.
 *
 * Usage: node dist/bench/fleet-agents.js COUNT PREFIX ENVIRONMENT JWKS_FILE TARGET_PID [NATS_URL]
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { ACTIONS } from "../agent/actions/index.js";
import { buildApp } from "../agent/app.js";
import { loadAgentConfig } from "../agent/config.js";
import { createRedactor } from "../agent/redact/index.js";
import { serveOverNats } from "../agent/transport/nats.js";
import { loadTrustedKeys } from "../agent/trusted-keys.js";

const [count, prefix, environment, jwks, target, natsUrl] = process.argv.slice(2);
const silent = pino({ level: "silent" });
const trustedKeys = loadTrustedKeys(jwks!);
const redactor = createRedactor({ fingerprintKey: randomBytes(32) });
const agents: { id: string; url: string }[] = [];
const apps = await Promise.all(
  Array.from({ length: Number(count) }, async (_, i) => {
    const id = `${environment}/bench/${prefix}-${String(i).padStart(4, "0")}`;
    const config = loadAgentConfig(
      { id, environment, trustedKeys: jwks, listen: "127.0.0.1:0", target, actions: "process-info" },
      {},
    );
    const app = buildApp(config, { trustedKeys, registry: ACTIONS, redactor, logger: false });
    if (natsUrl) {
      const nats = await serveOverNats(app, { url: natsUrl, agentId: id, log: silent });
      agents.push({ id, url: nats.address });
      return { close: () => nats.close(0).then(() => app.close()) };
    }
    await app.listen({ host: "127.0.0.1", port: 0 });
    agents.push({ id, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
    return app;
  }),
);
process.stdout.write(`${JSON.stringify({ ready: true, agents })}\n`);
const stop = () => void Promise.all(apps.map((a) => a.close())).then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
// The bench holds our stdin: when it goes away, so do we (no orphaned agents).
process.stdin.resume();
process.stdin.once("end", stop);
process.stdout.on("error", stop);
