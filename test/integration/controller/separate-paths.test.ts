/**
 * SPEC principle 3 with real agents (runAgent: real config, pinned JWKS files, real verification):
 * production and non-production are separate paths. A request is signed with its environment's key
 * only; an agent pinned to another environment's key refuses it, and an agent that (wrongly) pins
 * both still refuses a request for an environment that is not its own. Key rotation: a new key is
 * published beside the old one, then the old one is retired.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent, runAgent } from "../../../agent/main.js";
import { createEmptyReplayLog } from "../../../agent/replay-log.js";
import { loadControllerConfig } from "../../../controller/config.js";
import { buildClaims, signEnvelope } from "../../../controller/dispatch/envelope.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { generateSigningKey } from "../../../controller/keys.js";
import { type ControllerRuntime, createController } from "../../../controller/runtime.js";
import { tempDir } from "./helpers.js";

const POLICY = `environments:
  production: { approvals: 0, maxTtlSeconds: 60 }
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

interface Keys {
  production: { key: string; jwks: string };
  staging: { key: string; jwks: string };
}

/**
 * Each agent gets a state dir beside its keys, holding an empty replay log as a restarted container
 * finds it (the keys are new, so no earlier run accepted anything); without one the agent would
 * refuse envelopes issued within 30 s of its start (agent/replay-log.ts, part 3).
 */
async function startAgent(id: string, environment: string, trustedKeys: string): Promise<RunningAgent> {
  const stateDir = join(dirname(trustedKeys), "state", id.replaceAll("/", "_"));
  createEmptyReplayLog(stateDir, id);
  return runAgent(
    {
      id,
      environment,
      trustedKeys,
      listen: "127.0.0.1:0",
      target: String(process.pid),
      actions: "process-info",
    },
    { KEYHOLE_STATE_DIR: stateDir },
  );
}

async function mergeJwks(out: string, ...files: string[]): Promise<string> {
  const keys = [];
  for (const file of files)
    keys.push(...(JSON.parse(await readFile(file, "utf8")) as { keys: unknown[] }).keys);
  await writeFile(out, JSON.stringify({ keys }));
  return out;
}

describe("separate paths per environment, with real agents", () => {
  let dir: string;
  let keys: Keys;
  const agents: RunningAgent[] = [];
  const controllers: ControllerRuntime[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    const gen = async (env: "production" | "staging", sub = env) => {
      const k = await generateSigningKey(join(dir, "keys", sub), env);
      return { key: k.privateKeyPath, jwks: k.jwksPath };
    };
    keys = { production: await gen("production"), staging: await gen("staging") };
  });
  afterAll(async () => {
    for (const c of controllers) await c.close();
    for (const a of agents) await a.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A controller with explicit keys and an inventory of `[id, environment, agent]`. */
  async function controller(
    name: string,
    inventory: [string, string, RunningAgent][],
    signing: { production: string; staging: string } = {
      production: keys.production.key,
      staging: keys.staging.key,
    },
  ) {
    const base = join(dir, name);
    await writeFile(`${base}-policy.yaml`, POLICY);
    await writeFile(
      `${base}-inventory.yaml`,
      inventory.map(([id, env, a]) => `- { id: ${id}, environment: ${env}, url: "${a.url}" }\n`).join(""),
    );
    const config = loadControllerConfig(
      {
        dataDir: join(base, "data"),
        policy: `${base}-policy.yaml`,
        inventory: `${base}-inventory.yaml`,
        signingKey: [`production=${signing.production}`, `staging=${signing.staging}`],
      },
      {},
    );
    const runtime = await createController(config, { watchPolicy: false });
    controllers.push(runtime);
    const { token } = await issueToken({
      dataDir: join(base, "data"),
      subject: "user:ops@example.com",
      groups: ["sre"],
    });
    /** Runs process-info on `target` and returns the finished request. */
    const run = async (target: string) => {
      const created = await runtime.app.inject({
        method: "POST",
        url: "/v1/requests",
        headers: { authorization: `Bearer ${token}` },
        payload: { action: "process-info", target, reason: "separate paths" },
      });
      expect(created.statusCode).toBe(201);
      await runtime.dispatcher.whenIdle();
      return (await runtime.store.getRequest(created.json().request.id))!;
    };
    return { runtime, run };
  }

  it("signs each environment's requests with its own key only", async () => {
    const { runtime } = await controller("signing", []);
    const prod = runtime.keys.get("production")!;
    const staging = runtime.keys.get("staging")!;
    expect(prod.kid).toMatch(/^production-/);
    expect(staging.kid).toMatch(/^staging-/);
    expect(prod.jwks.keys[0]!.x).not.toBe(staging.jwks.keys[0]!.x);
    const claims = buildClaims(
      {
        id: "r",
        status: "approved",
        subject: "user:ops@example.com",
        action: "process-info",
        target: "production/a",
        environment: "production",
        params: {},
        reason: "r",
        ticket: undefined,
        output: "inline",
        approvalsRequired: 0,
        approvals: [],
        createdAt: 0,
        updatedAt: 0,
        expiresAt: 0,
        jti: undefined,
        kid: undefined,
        result: undefined,
        error: undefined,
        denial: undefined,
        artifactId: undefined,
        breakGlass: false,
        requester: undefined,
      },
      { issuer: "c", ttlSeconds: 60, now: Date.now() },
    );
    await expect(signEnvelope(claims, staging)).rejects.toThrow(
      'the "staging" key cannot sign a request for "production"',
    );
    await expect(signEnvelope({ ...claims, env: "staging" }, prod)).rejects.toThrow(
      /"production" key cannot sign/,
    );
    expect((await signEnvelope(claims, prod)).kid).toBe(prod.kid);
  });

  it("a production request is never accepted by a non-production agent, nor the reverse", async () => {
    const prodAgent = await startAgent("production/a", "production", keys.production.jwks);
    const stagingAgent = await startAgent("staging/b", "staging", keys.staging.jwks);
    agents.push(prodAgent, stagingAgent);
    const both = await mergeJwks(join(dir, "both.json"), keys.production.jwks, keys.staging.jwks);
    // Misconfigured agents that pin both environments' keys: the env claim still stops them.
    const prodPinsBoth = await startAgent("production/c", "production", both);
    const stagingPinsBoth = await startAgent("staging/d", "staging", both);
    agents.push(prodPinsBoth, stagingPinsBoth);
    const { run } = await controller("paths", [
      ["production/a", "production", prodAgent],
      ["staging/b", "staging", stagingAgent],
      // The inventory points a staging entry at the production agent, and the reverse.
      ["staging/to-a", "staging", prodAgent],
      ["production/to-b", "production", stagingAgent],
      // The inventory mislabels agents that pin both keys.
      ["production/c", "staging", prodPinsBoth],
      ["staging/d", "production", stagingPinsBoth],
    ]);

    // The right paths work.
    const ok = [await run("production/a"), await run("staging/b")];
    expect(ok.map((r) => [r.status, r.kid?.split("-")[0]])).toEqual([
      ["completed", "production"],
      ["completed", "staging"],
    ]);
    // A staging-signed request at the production agent, and a production-signed one at the staging agent.
    // The agent that refuses is not the one the inventory names, so its refusal is not signed by that
    // agent (issue 21): recorded as KH_AGENT_UNVERIFIED, quoting the code it gave.
    const crossed = [await run("staging/to-a"), await run("production/to-b")];
    expect(crossed.map((r) => [r.environment, r.status, r.error?.code])).toEqual([
      ["staging", "failed", "KH_AGENT_UNVERIFIED"],
      ["production", "failed", "KH_AGENT_UNVERIFIED"],
    ]);
    for (const r of crossed)
      expect(r.error?.message).toMatch(/refusal \(KH_BAD_SIGNATURE\) is not signed by agent/);
    // Signature accepted (both keys pinned), environment refused, both ways.
    const mislabelled = [await run("production/c"), await run("staging/d")];
    expect(mislabelled.map((r) => [r.environment, r.status, r.error?.code])).toEqual([
      ["staging", "failed", "KH_WRONG_ENVIRONMENT"],
      ["production", "failed", "KH_WRONG_ENVIRONMENT"],
    ]);
  });

  it("rotates a key: the new one published beside the old, the controller switched, then the old one retired", async () => {
    const next = await generateSigningKey(join(dir, "keys", "production-2"), "production");
    const overlap = await mergeJwks(join(dir, "overlap.json"), keys.production.jwks, next.jwksPath);
    // Step 2: agents pin old + new. The controller still on the old key, and one on the new key, both work.
    const during = await startAgent("production/rot", "production", overlap);
    agents.push(during);
    const oldCtl = await controller("rot-old", [["production/rot", "production", during]]);
    const newCtl = await controller("rot-new", [["production/rot", "production", during]], {
      production: next.privateKeyPath,
      staging: keys.staging.key,
    });
    const [viaOld, viaNew] = [await oldCtl.run("production/rot"), await newCtl.run("production/rot")];
    expect([viaOld.status, viaNew.status]).toEqual(["completed", "completed"]);
    expect(viaNew.kid).toBe(next.kid);
    expect(viaOld.kid).not.toBe(next.kid);

    // Step 4: the old key retired from the agents' JWKS: only the new key's envelopes are accepted.
    const after = await startAgent("production/rot2", "production", next.jwksPath);
    agents.push(after);
    const stale = await controller("rot-stale", [["production/rot2", "production", after]]);
    const fresh = await controller("rot-fresh", [["production/rot2", "production", after]], {
      production: next.privateKeyPath,
      staging: keys.staging.key,
    });
    const refused = await stale.run("production/rot2");
    expect([refused.status, refused.error?.code]).toEqual(["failed", "KH_BAD_SIGNATURE"]);
    expect((await fresh.run("production/rot2")).status).toBe("completed");
  });
});
