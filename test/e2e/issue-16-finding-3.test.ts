/**
 * Issue 16, finding 3: a captured envelope was accepted again after the agent restarted, because
 * the replay cache lived in memory only. Property: an envelope is accepted at most once by an
 * agent id, across restarts, until it expires. Attacked as it was found: a real `keyhole agent`
 * process accepts an envelope, is stopped (SIGTERM) or killed (SIGKILL) and started again, and the
 * captured envelope is sent again; also to a restarted agent whose state dir is new (a new pod of
 * the same StatefulSet), and with an envelope from a controller whose clock runs ahead.
 */
import { readdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { claimsFor, makeSigner, type TestSigner } from "../helpers/envelope.js";
import { Stack, type StartedProcess } from "../helpers/stack.js";

const AGENT_ID = "staging/shop/shop-0";

const stack = new Stack("finding-3");
afterEach(() => stack.stop(0));

async function setUp(): Promise<{
  signer: TestSigner;
  /** `fresh`: the state dir holds no replay log (a new pod); otherwise an empty one if none. */
  start: (stateDir: string, fresh?: boolean) => Promise<StartedProcess>;
}> {
  const signer = await makeSigner();
  const jwks = stack.write("jwks.json", JSON.stringify(signer.jwks));
  await stack.startWorkload();
  return {
    signer,
    start: (stateDir, fresh = false) =>
      stack.startAgent({
        id: AGENT_ID,
        environment: "staging",
        trustedKeys: jwks,
        env: { KEYHOLE_STATE_DIR: stateDir },
        freshStateDir: fresh,
      }),
  };
}

async function answer(
  agent: StartedProcess,
  body: string,
): Promise<{ status: number; error?: { code: string; message: string } }> {
  const res = await fetch(`${agent.url}/v1/requests`, {
    method: "POST",
    headers: { "content-type": "application/jwt" },
    body,
  });
  const json = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, ...(json.error ? { error: json.error } : {}) };
}

async function post(agent: StartedProcess, body: string): Promise<{ status: number; code?: string }> {
  const { status, error } = await answer(agent, body);
  return { status, ...(error ? { code: error.code } : {}) };
}

async function stop(agent: StartedProcess, signal: NodeJS.Signals): Promise<void> {
  agent.kill(signal);
  await agent.exited;
}

/** Until the wall clock has left the second `iat`: a restart then starts in a later second. */
async function nextSecondAfter(iat: number): Promise<void> {
  while (Math.floor(Date.now() / 1000) <= iat) await sleep(25);
}

const REFUSED = { status: 409, code: "KH_REPLAY" };

describe("issue 16 finding 3: an envelope is accepted at most once by an agent id, across restarts", () => {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`finding 3: a captured envelope is refused after the agent restarts (${signal})`, async () => {
      const { signer, start } = await setUp();
      const stateDir = stack.path("state");
      const first = await start(stateDir);
      const claims = claimsFor();
      const captured = await signer.sign(claims);
      expect(await post(first, captured)).toEqual({ status: 200 });
      await stop(first, signal);

      const second = await start(stateDir);
      expect(await post(second, captured)).toEqual(REFUSED);
      // The restarted agent still serves what it has not seen.
      expect(await post(second, await signer.sign(claimsFor()))).toEqual({ status: 200 });
    });
  }

  it("finding 3: a captured envelope is refused by a restarted agent whose state dir is new", async () => {
    const { signer, start } = await setUp();
    const first = await start(stack.path("state-of-the-old-pod"));
    const claims = claimsFor();
    const captured = await signer.sign(claims);
    expect(await post(first, captured)).toEqual({ status: 200 });
    await stop(first, "SIGKILL");
    await nextSecondAfter(claims.iat as number);

    const second = await start(stack.path("state-of-the-new-pod"), true);
    expect(await post(second, captured)).toEqual(REFUSED);
    // Without a log, also a new envelope is refused during the first 30 s (attack F4 below; that
    // one issued 31 s after the start is accepted: test/unit/agent/replay-log.test.ts and
    // test/integration/agent/replay-after-lost-state.test.ts).
    expect(await post(second, await signer.sign(claimsFor()))).toEqual(REFUSED);
  });

  it("attack F4: lost state dir: an envelope dated start+10 s accepted by run 1 is refused by run 2", async () => {
    const { signer, start } = await setUp();
    const first = await start(stack.path("state-of-the-old-pod"));
    // A controller whose clock runs 10 s ahead of the agents': iat is "after" run 2's start.
    const ahead = Math.floor(Date.now() / 1000) + 10;
    const captured = await signer.sign(claimsFor({}, { nowSeconds: ahead }));
    expect(await post(first, captured)).toEqual({ status: 200 });
    await stop(first, "SIGKILL");

    // A new pod of the same id: its state dir is new, no log tells it what run 1 accepted.
    const second = await start(stack.path("state-of-the-new-pod"), true);
    const refused = await answer(second, captured);
    expect(refused.status).toBe(409);
    expect(refused.error?.code).toBe("KH_REPLAY");
    expect(refused.error?.message).toMatch(/less than 30s after this agent started/);
    expect(refused.error?.message).toMatch(/no replay log/);
    expect(refused.error?.message).toMatch(/ask again/);
    expect(second.lines.some((l) => /no replay log from an earlier run/.test(String(l.msg)))).toBe(true);
  });

  it("finding 3: an envelope from a controller whose clock runs ahead is refused after a restart", async () => {
    const { signer, start } = await setUp();
    const stateDir = stack.path("state");
    const first = await start(stateDir);
    // iat 20 s ahead (the agent allows 30): issued "after" the restart by the controller's clock.
    const ahead = Math.floor(Date.now() / 1000) + 20;
    const captured = await signer.sign(claimsFor({}, { nowSeconds: ahead }));
    expect(await post(first, captured)).toEqual({ status: 200 });
    await stop(first, "SIGKILL");

    const second = await start(stateDir);
    expect(await post(second, captured)).toEqual(REFUSED);
    expect((await readdir(stateDir)).filter((f) => f.startsWith("replay-"))).toHaveLength(1);
  });
});
