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
  start: (stateDir: string) => Promise<StartedProcess>;
}> {
  const signer = await makeSigner();
  const jwks = stack.write("jwks.json", JSON.stringify(signer.jwks));
  await stack.startWorkload();
  return {
    signer,
    start: (stateDir) =>
      stack.startAgent({
        id: AGENT_ID,
        environment: "staging",
        trustedKeys: jwks,
        env: { KEYHOLE_STATE_DIR: stateDir },
      }),
  };
}

async function post(agent: StartedProcess, body: string): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${agent.url}/v1/requests`, {
    method: "POST",
    headers: { "content-type": "application/jwt" },
    body,
  });
  const answer = (await res.json()) as { error?: { code: string } };
  return { status: res.status, ...(answer.error ? { code: answer.error.code } : {}) };
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

    const second = await start(stack.path("state-of-the-new-pod"));
    expect(await post(second, captured)).toEqual(REFUSED);
    expect(await post(second, await signer.sign(claimsFor()))).toEqual({ status: 200 });
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
