/**
 * Issue 16, "the enrollment token sits in the agent's environment": a workload sharing the pod's
 * PID namespace (and the agent's uid) read it from /proc/<agent>/environ; given as a flag it is in
 * /proc/<agent>/cmdline, which every process in the namespace can read. Attacked as it was found: a
 * real `keyhole agent` process enrolls with a controller stand-in that records the token it is
 * shown, and the test, as the workload would (same uid), reads the agent's /proc files.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ENROLL_PATH, HEARTBEAT_PATH } from "../../protocol/fleet.js";
import { makeSigner } from "../helpers/envelope.js";
import { type AgentOptions, type LogLine, Stack } from "../helpers/stack.js";

const AGENT_ID = "staging/shop/shop-0";

const stack = new Stack("enroll-token");
afterEach(() => stack.stop(0));

/** A controller stand-in: answers enrollment and heartbeats, and records the bearer it was shown. */
async function startController(): Promise<{ url: string; bearers: string[] }> {
  const bearers: string[] = [];
  const controller = createServer((req, res) => {
    req.resume();
    req.once("end", () => {
      if (req.url === ENROLL_PATH) {
        bearers.push(String(req.headers.authorization ?? ""));
        res.writeHead(201, { "content-type": "application/json" }).end(
          JSON.stringify({
            agent: { id: AGENT_ID, environment: "staging", url: "http://127.0.0.1:1" },
            session: `khs_${randomBytes(24).toString("hex")}`,
            heartbeatSeconds: 60,
          }),
        );
      } else if (req.url === HEARTBEAT_PATH) {
        res.writeHead(200, { "content-type": "application/json" }).end('{"heartbeatSeconds":60}');
      } else res.writeHead(404).end();
    });
  });
  controller.listen(0, "127.0.0.1");
  await once(controller, "listening");
  stack.onStop(() => {
    controller.closeAllConnections();
    controller.close();
  });
  return { url: `http://127.0.0.1:${(controller.address() as AddressInfo).port}`, bearers };
}

async function setUp() {
  const signer = await makeSigner();
  const token = `khe_${randomBytes(8).toString("hex")}_${randomBytes(24).toString("base64url")}`;
  const { url, bearers } = await startController();
  const agent: AgentOptions = {
    id: AGENT_ID,
    environment: "staging",
    trustedKeys: stack.write("jwks.json", JSON.stringify(signer.jwks)),
    target: process.pid,
    controller: url,
    env: { KEYHOLE_STATE_DIR: stack.path("state") },
  };
  return { token, bearers, agent };
}

const warnsOfToken = (line: LogLine) => line.level === 40 && String(line.msg).includes("enrollment token");

/** What a workload in the same PID namespace, as the agent's uid, reads of the agent. */
function procOf(pid: number): { environ: string; cmdline: string } {
  return {
    environ: readFileSync(`/proc/${pid}/environ`, "utf8"),
    cmdline: readFileSync(`/proc/${pid}/cmdline`, "utf8"),
  };
}

describe("issue 16: the agent's secrets are not in what the workload can read of it", () => {
  it("enrollment token: with --enroll-token-file the agent enrolls, and the token is in neither its environ nor its cmdline", async () => {
    const { token, bearers, agent } = await setUp();
    const file = stack.write("enroll-token", `${token}\n`);
    const started = await stack.startAgent({ ...agent, enrollTokenFile: file });

    expect(bearers).toEqual([`Bearer ${token}`]);
    const seen = procOf(started.pid);
    expect(seen.environ.includes(token)).toBe(false);
    expect(seen.cmdline.includes(token)).toBe(false);
    expect(started.lines.filter(warnsOfToken)).toEqual([]);
  });

  it("enrollment token: the variable still works, and the agent warns at start that the workload can read it", async () => {
    const { token, bearers, agent } = await setUp();
    const started = await stack.startAgent({ ...agent, env: { ...agent.env, KEYHOLE_ENROLL_TOKEN: token } });
    await started.waitFor((line) => line.msg === "enrolled");

    expect(bearers).toEqual([`Bearer ${token}`]);
    // The risk the warning names: there it is, for any process of the agent's uid.
    expect(procOf(started.pid).environ.includes(token)).toBe(true);
    const warning = await started.waitFor(warnsOfToken);
    expect(warning.msg).toMatch(/KEYHOLE_ENROLL_TOKEN.*\/proc\/<pid>\/environ.*--enroll-token-file/);
  });

  it("enrollment token: a token file and a token variable together are refused at start", async () => {
    const { token, agent } = await setUp();
    const file = stack.write("enroll-token", token);
    await expect(
      stack.startAgent({
        ...agent,
        enrollTokenFile: file,
        env: { ...agent.env, KEYHOLE_ENROLL_TOKEN: token },
      }),
    ).rejects.toThrow(/exclude each other/);
  });
});
