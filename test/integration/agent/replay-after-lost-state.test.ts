/**
 * Issue 16, attack finding F4, through buildApp with the agent's real replay guard on real files
 * and an injected clock (the 30 s wait is not worth waiting for in a test; the real-process
 * attack is in test/e2e/issue-16-finding-3.test.ts): an agent that starts without a replay log
 * (a new pod, a lost or unusable state dir) refuses envelopes issued less than 30 s after its start,
 * with KH_REPLAY and the reason, and accepts one issued 31 s after. An agent whose state dir holds
 * its log is unchanged: it takes an envelope issued in the second after its start.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS } from "../../../agent/actions/index.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { ReplayCache } from "../../../agent/replay-cache.js";
import { createEmptyReplayLog, PersistentReplayCache } from "../../../agent/replay-log.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";

const AGENT_ID = "staging/shop/shop-0";
/** The agent's start, 0.4 s into a second. */
const START_MS = 1_800_000_000_400;
const START_S = Math.floor(START_MS / 1000);

let dir: string;
let signer: TestSigner;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyhole-f4-"));
  signer = await makeSigner();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An agent over `stateDir` started at START_MS, whose clock reads `clock.ms`. */
function agentAt(stateDir: string, clock: { ms: number }) {
  const config = loadAgentConfig(
    { id: AGENT_ID, environment: "staging", trustedKeys: "unused", target: String(process.pid) },
    {},
  );
  return buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry: ACTIONS,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: pino({ level: "silent" }),
    now: () => clock.ms,
    replayGuard: PersistentReplayCache.open({
      cache: new ReplayCache(1000),
      stateDir,
      agentId: AGENT_ID,
      log: { warn: () => {}, info: () => {} },
      nowMs: START_MS,
    }),
  });
}

async function send(app: ReturnType<typeof agentAt>, issuedAt: number) {
  const res = await app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { "content-type": "application/jwt" },
    payload: await signer.sign(claimsFor({}, { nowSeconds: issuedAt })),
  });
  return {
    status: res.statusCode,
    error: (res.json() as { error?: { code: string; message: string } }).error,
  };
}

describe("attack F4: an agent that starts without a replay log", () => {
  it("attack F4: refuses an envelope issued within 30 s of its start, with the reason, and accepts one issued 31 s after", async () => {
    const clock = { ms: START_MS + 1000 };
    const app = agentAt(join(dir, "new-pod"), clock);
    try {
      const early = await send(app, START_S + 1);
      expect(early.status).toBe(409);
      expect(early.error?.code).toBe("KH_REPLAY");
      expect(early.error?.message).toMatch(
        /issued less than 30s after this agent started.*no replay log.*ask again/,
      );
      // Dated 30 s ahead by a controller whose clock runs ahead: still inside the window.
      expect((await send(app, START_S + 30)).error?.code).toBe("KH_REPLAY");

      clock.ms = START_MS + 31_000;
      expect(await send(app, START_S + 31)).toEqual({ status: 200, error: undefined });
    } finally {
      await app.close();
    }
  });

  it("attack F4: with its log in the state dir, the agent takes an envelope issued in the second after its start", async () => {
    const stateDir = join(dir, "restarted-container");
    createEmptyReplayLog(stateDir, AGENT_ID);
    const clock = { ms: START_MS + 1000 };
    const app = agentAt(stateDir, clock);
    try {
      expect(await send(app, START_S + 1)).toEqual({ status: 200, error: undefined });
      expect((await send(app, START_S - 1)).error?.code).toBe("KH_REPLAY");
    } finally {
      await app.close();
    }
  });
});
