/**
 * Issue 21: the takeover relay named as an open risk in docs/fleet.md. An enrollment-token holder
 * registers the id of an agent that is offline, keeps it with heartbeats, receives its envelopes and
 * relays them to the real pod to get its masked results back. Performed end to end with real
 * processes: a controller, a workload, the real `keyhole agent` (enrolled, then restarted without
 * enrollment, so it still serves but no longer beats: offline), and the attacker's own process
 * (test/fixtures/attackers/takeover-relay.mjs), which tries every way to enroll it can.
 *
 * Before agents had keys the attacker enrolled with the old body and got the pod's process-info back
 * through its relay. Now the id is pinned to the real agent's key: every attempt is refused
 * (audited), no envelope reaches the attacker, and the request is answered by the real agent,
 * its answer verified against the pinned key.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startChild } from "../helpers/child-process.js";
import { freePort, Stack } from "../helpers/stack.js";

const ID = "staging/pay/pay-0";
const ATTACKER = fileURLToPath(new URL("../fixtures/attackers/takeover-relay.mjs", import.meta.url));
const POLICY = `environments:
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

const stack = new Stack("issue-21-relay");
afterEach(() => stack.stop(0));

describe("issue 21: the takeover relay", () => {
  it("issue-21 takeover relay: a token holder cannot register an offline agent's id and relay its envelopes", async () => {
    await stack.keys("staging");
    await stack.start({
      workload: {},
      policy: POLICY,
      tokens: { sre: { subject: "user:sre@example.com", groups: ["sre"] } },
      controller: { flags: ["--heartbeat-seconds", "1", "--offline-after-seconds", "2"] },
    });
    const enroll = await stack.keyhole(
      ["enroll-token", "issue", "--environment", "staging", "--data-dir", stack.dir, "--json"],
      {},
    );
    expect(enroll.code, enroll.stderr).toBe(0);
    const token = stack.write("enroll-token", `${JSON.parse(enroll.stdout).token}\n`);

    // The real agent enrolls (pinning its key), then its pod stops beating but keeps serving.
    const listen = `127.0.0.1:${await freePort()}`;
    const stateDir = stack.path("state-pay-0");
    const first = await stack.startAgent({
      id: ID,
      environment: "staging",
      listen,
      controller: stack.url,
      enrollTokenFile: token,
      env: { KEYHOLE_STATE_DIR: stateDir },
    });
    const victimKey = first.lines.find((l) => l.msg === "identity key loaded")?.publicKey as
      | string
      | undefined;
    await first.stop();
    const victim = await stack.startAgent({
      id: ID,
      environment: "staging",
      listen,
      name: "pay-0-restarted",
      env: { KEYHOLE_STATE_DIR: stateDir },
    });
    const sre = stack.as("sre");
    await waitUntil(async () => {
      const agents = await stack.keyhole(["agents", "--json"], sre);
      return JSON.parse(agents.stdout).agents.some(
        (a: { id: string; state: string }) => a.id === ID && a.state === "offline",
      );
    });

    // The attacker, with the enrollment token (one per environment, as many deployments issue it).
    const loot = stack.write("loot.jsonl", "");
    const attacker = await startChild({
      name: "attacker",
      args: [ATTACKER],
      env: {
        CONTROLLER: stack.url,
        TOKEN: readFileSync(token, "utf8").trim(),
        AGENT_ID: ID,
        ENVIRONMENT: "staging",
        VICTIM_URL: victim.url,
        VICTIM_PUBLIC_KEY: victimKey,
        LOOT: loot,
      },
      logFile: stack.path("attacker.log"),
      isReady: (line) => line.event === "enrolled",
    });
    stack.onStop(() => attacker.stop(0));
    const attempts = attacker.lines.filter((l) => l.event === "enroll");

    // The operator asks the agent for its process facts.
    const run = await stack.keyhole(
      ["run", "process-info", "--target", ID, "--reason", "INC-21 relay check", "--wait", "--json"],
      sre,
      60_000,
    );

    // Nothing reached the attacker: it never held the id, so no envelope was sent to it.
    expect(readFileSync(loot, "utf8"), "the attacker relayed an envelope and kept the answer").toBe("");
    expect(attacker.ready.enrolled).toBe(false);
    expect(attempts.map((a) => [a.variant, a.status, a.code])).toEqual([
      ["legacy", 400, "KH_BAD_REQUEST"],
      ["own-key", 409, "KH_AGENT_KEY_MISMATCH"],
      ["victim-key", 409, "KH_AGENT_KEY_MISMATCH"],
    ]);
    // The request went to the real agent, and its answer verified against the pinned key.
    expect(run.code, run.stderr).toBe(0);
    const { request } = JSON.parse(run.stdout);
    expect(request).toMatchObject({
      status: "completed",
      result: { agent: ID, result: { pid: stack.workload!.pid } },
    });
    expect(typeof request.answerSignature).toBe("string");

    // Each refusal is in the audit trail, with the key that was presented.
    const exported = stack.path("audit.jsonl");
    const out = await stack.keyhole(["audit", "export", "--out", exported, "--data-dir", stack.dir]);
    expect(out.code, out.stderr).toBe(0);
    const records = readFileSync(exported, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((r) => r.event === "agent.refused");
    expect(records.map((r) => r.details.code)).toEqual(["KH_AGENT_KEY_MISMATCH", "KH_AGENT_KEY_MISMATCH"]);
    const completed = readFileSync(exported, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .find((r) => r.event === "request.completed");
    expect(completed.details).toMatchObject({ agentKey: victimKey, agentKeyPinned: true });
  }, 120_000);
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("timed out waiting");
}
