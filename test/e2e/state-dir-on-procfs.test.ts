/**
 * Found while benchmarking (2026-12-02): an agent given a state dir on procfs
 * (`KEYHOLE_STATE_DIR=/proc/…`) hung at start at full CPU and never listened, because Node's
 * recursive mkdir loops where the kernel answers ENOENT. A state dir it cannot use must be logged
 * and the agent must serve, protected by the replay start rule (docs/threat-model.md): without a
 * log it refuses envelopes issued less than 30 s after its start (finding F4), saying why.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { claimsFor, makeSigner } from "../helpers/envelope.js";
import { Stack } from "../helpers/stack.js";

const stack = new Stack("state-dir-procfs");
afterEach(() => stack.stop(0));

describe("an agent whose state dir cannot be made", () => {
  it("starts, says why, and serves requests", async () => {
    const signer = await makeSigner();
    const jwks = stack.write("jwks.json", JSON.stringify(signer.jwks));
    await stack.startWorkload();
    const agent = await stack.startAgent({
      id: "staging/shop/shop-0",
      environment: "staging",
      trustedKeys: jwks,
      env: { KEYHOLE_STATE_DIR: "/proc/keyhole-state" },
      freshStateDir: true,
    });
    const warnings = agent.lines.filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warnings.some((m) => m.startsWith("cannot use the replay log"))).toBe(true);
    expect(warnings.some((m) => m.startsWith("cannot use the state dir"))).toBe(true);
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
    const post = async (iat: number) =>
      fetch(`${agent.url}/v1/requests`, {
        method: "POST",
        headers: { "content-type": "application/jwt" },
        body: await signer.sign(claimsFor({ iat, exp: iat + 120 })),
      });
    const now = Math.floor(Date.now() / 1000);
    const early = await post(now);
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "KH_REPLAY",
      message: expect.stringMatching(/no replay log/),
    });
    // Dated at the end of the window (the agent logs it; an iat up to 30 s ahead of the agent's
    // clock is accepted, so this is valid within a second of the start): served.
    const from = agent.lines.find((l) => typeof l.acceptsIssuedFrom === "number")
      ?.acceptsIssuedFrom as number;
    expect(from).toBeGreaterThanOrEqual(now + 29);
    while (Date.now() / 1000 < from - 30) await sleep(20);
    expect((await post(from)).status).toBe(200);
  });
});
