/**
 * Found while benchmarking (2026-12-02): an agent given a state dir on procfs
 * (`KEYHOLE_STATE_DIR=/proc/…`) hung at start at full CPU and never listened, because Node's
 * recursive mkdir loops where the kernel answers ENOENT. A state dir it cannot use must be logged
 * and the agent must serve, protected by the replay start rule (docs/threat-model.md).
 */
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
    });
    const warnings = agent.lines.filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warnings.some((m) => m.startsWith("cannot use the replay log"))).toBe(true);
    expect(warnings.some((m) => m.startsWith("cannot use the state dir"))).toBe(true);
    const res = await fetch(`${agent.url}/v1/requests`, {
      method: "POST",
      headers: { "content-type": "application/jwt" },
      body: await signer.sign(claimsFor()),
    });
    expect(res.status).toBe(200);
  });
});
