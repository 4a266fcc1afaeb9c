/**
 * The agent stopped while it holds a target's inspector, as real processes with real signals:
 *
 * - SIGKILL mid-heap-snapshot: the target keeps running (its inspector is left open: nobody is
 *   left to close it), and the agent's next start closes that inspector, using the marker the
 *   killed agent wrote before its SIGUSR1 (agent/runtimes/node/open-markers.ts);
 * - SIGTERM: a request in flight finishes within the grace period (KEYHOLE_SHUTDOWN_GRACE_SECONDS)
 *   and is answered; one that cannot is cut at the deadline, its action aborted and the inspector
 *   closed, and the agent exits shortly after.
 */
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { loopbackListeners } from "../../agent/runtimes/node/listeners.js";
import { pollUntil } from "../../agent/runtimes/node/wait.js";
import { claimsFor, makeSigner, type TestSigner } from "../helpers/envelope.js";
import { type AgentOptions, Stack, type StartedProcess, type Workload } from "../helpers/stack.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/inspector/heap-workload.mjs", import.meta.url));
const AGENT_ID = "staging/shop/shop-0";

const stack = new Stack("agent-fault");
let target: Workload | undefined;

afterEach(async () => {
  await stack.stop(0);
  target = undefined;
});

/** The fixture workload; `--inspect-port=0` so SIGUSR1 opens its inspector on a free port. */
function startTarget(holdMb: number, recordShare: number): Promise<Workload> {
  return stack.startWorkload(
    { HOLD_MB: String(holdMb), RECORD_SHARE: String(recordShare) },
    { script: FIXTURE, nodeArgs: ["--inspect-port=0"], name: "target" },
  );
}

const portsOf = (pid: number) => new Set(loopbackListeners(pid).map((l) => l.port));
/** For assertions that say how the target ended if it did. */
const state = (t: Workload) => ({ exitCode: t.child.exitCode, signal: t.child.signalCode });
const RUNNING = { exitCode: null, signal: null };

async function setUp(
  holdMb = 8,
  recordShare = 0.2,
): Promise<{ signer: TestSigner; stateDir: string; agent: AgentOptions }> {
  const signer = await makeSigner();
  const trustedKeys = stack.write("jwks.json", JSON.stringify(signer.jwks));
  target = await startTarget(holdMb, recordShare);
  const stateDir = stack.path("state");
  return {
    signer,
    stateDir,
    agent: { id: AGENT_ID, environment: "staging", trustedKeys, target: target.pid },
  };
}

function startAgent(agent: AgentOptions, env: Record<string, string>): Promise<StartedProcess> {
  return stack.startAgent({ ...agent, env });
}

/** POSTs an envelope over a real socket; resolves with the response head. */
function post(url: string, body: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/requests`,
      { method: "POST", headers: { "content-type": "application/jwt" } },
      resolve,
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function settledPorts(pid: number, expected: Set<number>, timeoutMs = 15_000): Promise<Set<number>> {
  await pollUntil(() => {
    const now = portsOf(pid);
    return now.size === expected.size && [...now].every((p) => expected.has(p)) ? true : undefined;
  }, timeoutMs);
  return portsOf(pid);
}

describe("agent killed or stopped while it holds the target's inspector", () => {
  it("SIGKILL mid-heap-snapshot leaves the target running; the next start closes the inspector it left open", async () => {
    const { signer, stateDir, agent: flags } = await setUp(24, 0.05);
    const baseline = portsOf(target!.pid);
    const first = await startAgent(flags, { KEYHOLE_STATE_DIR: stateDir });
    const res = await post(
      first.url,
      await signer.sign(claimsFor({ action: "heap-snapshot", params: {}, output: { mode: "stream" } })),
    );
    expect(res.statusCode).toBe(200);
    // The first bytes of the snapshot are out: the target is serialising it for us.
    await once(res, "data");
    expect([...(await readdir(stateDir))].filter((n) => n.startsWith("inspector-"))).toHaveLength(1);
    first.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    res.destroy();

    // The target lives on, with an inspector nobody will close.
    await new Promise((r) => setTimeout(r, 300));
    expect(state(target!)).toEqual(RUNNING);
    const withInspector = portsOf(target!.pid);
    expect(withInspector.size).toBe(baseline.size + 1);
    const answer = await fetch(`http://127.0.0.1:${target!.port}/`);
    expect(answer.status).toBe(200);

    const second = await startAgent(flags, { KEYHOLE_STATE_DIR: stateDir });
    const closed = await second.waitFor((l) => String(l.msg).startsWith("checked inspectors"), 60_000);
    expect(closed.outcomes).toEqual([{ pid: target!.pid, outcome: "closed" }]);
    expect(await settledPorts(target!.pid, baseline)).toEqual(baseline);
    expect((await readdir(stateDir)).filter((n) => n.startsWith("inspector-"))).toEqual([]);
    expect(state(target!)).toEqual(RUNNING);
    expect((await fetch(`http://127.0.0.1:${target!.port}/`)).status).toBe(200);
  });

  it("SIGTERM: a request in flight finishes within the grace period and is answered", async () => {
    const { signer, stateDir, agent: flags } = await setUp();
    const agent = await startAgent(flags, {
      KEYHOLE_STATE_DIR: stateDir,
      KEYHOLE_SHUTDOWN_GRACE_SECONDS: "5",
    });
    const body = await signer.sign(claimsFor({ action: "cpu-profile", params: { seconds: 1 } }));
    const pending = post(agent.url, body);
    await agent.waitFor((l) => String(l.msg).includes("opening the target's inspector"));
    const signalledAt = performance.now();
    agent.kill("SIGTERM");
    const res = await pending;
    expect(res.statusCode).toBe(200);
    let text = "";
    for await (const chunk of res) text += String(chunk);
    expect(JSON.parse(text).result.nodes.length).toBeGreaterThan(0);
    const exit = await agent.exited;
    console.log(
      `agent answered and exited ${Math.round(exit.atMs - signalledAt)} ms after SIGTERM (grace 5000 ms)`,
    );
    expect(exit.code).toBe(0);
    expect(exit.atMs - signalledAt).toBeLessThan(5000);
    expect(state(target!)).toEqual(RUNNING);
  });

  it("SIGTERM: a request that outlasts the grace period is cut, its inspector closed, and the agent exits", async () => {
    const { signer, stateDir, agent: flags } = await setUp();
    const baseline = portsOf(target!.pid);
    const agent = await startAgent(flags, {
      KEYHOLE_STATE_DIR: stateDir,
      KEYHOLE_SHUTDOWN_GRACE_SECONDS: "1",
    });
    const body = await signer.sign(claimsFor({ action: "cpu-profile", params: { seconds: 30 } }));
    const pending = post(agent.url, body).then(
      (r) => `status ${r.statusCode}`,
      (err: Error) => `cut: ${err.message}`,
    );
    await agent.waitFor((l) => String(l.msg).includes("opening the target's inspector"));
    await new Promise((r) => setTimeout(r, 300));
    const signalledAt = performance.now();
    agent.kill("SIGTERM");
    const exit = await agent.exited;
    const tookMs = exit.atMs - signalledAt;
    console.log(`agent cut the request and exited ${Math.round(tookMs)} ms after SIGTERM (grace 1000 ms)`);
    expect(await pending).toMatch(/^cut: /);
    expect(exit.code).toBe(0);
    expect(tookMs).toBeGreaterThan(900);
    expect(tookMs).toBeLessThan(1000 + 10_000);
    expect(agent.lines.some((l) => l.msg === "drained" && l.inspectorsClosed === true)).toBe(true);
    // No inspector left open, no marker left behind, the target alive.
    expect(await settledPorts(target!.pid, baseline, 3000)).toEqual(baseline);
    expect((await readdir(stateDir)).filter((n) => n.startsWith("inspector-"))).toEqual([]);
    expect(state(target!)).toEqual(RUNNING);
  });
});
