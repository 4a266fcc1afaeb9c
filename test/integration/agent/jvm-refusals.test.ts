/**
 * What the JVM actions refuse, and that a refusal sends nothing: a `sleep` process (no SIGQUIT
 * handler: the signal would kill it), a Node process, JVMs started with
 * -XX:+DisableAttachMechanism (seen in the perf data, and, without perf data, in JAVA_TOOL_OPTIONS)
 * and under another uid. Each refusal is 422 KH_TARGET_UNSUPPORTED, each target survives, no
 * attach file is left, and no JVM printed a thread dump (what SIGQUIT without an attach file
 * does). A listener that never answers ends with the request's deadline, without a signal. A JVM
 * with -Xrs handles no SIGQUIT but opens its listener at start: attached without a signal.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS } from "../../../agent/actions/index.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { AttachSession } from "../../../agent/runtimes/jvm/attach-session.js";
import { Jcmd } from "../../../agent/runtimes/jvm/jcmd-commands.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { hasJava, type JvmTarget, startJvmTarget } from "../../helpers/jvm-target.js";

const AGENT_ID = "staging/shop/shop-0";
const JVM_ACTIONS: [string, Record<string, unknown>, "inline" | "stream"][] = [
  ["thread-dump", {}, "inline"],
  ["class-histogram", {}, "inline"],
  ["vm-info", {}, "inline"],
  ["heap-snapshot", {}, "stream"],
  ["cpu-profile", { seconds: 1 }, "stream"],
];

let signer: TestSigner;
const silent = pino({ level: "silent" });

async function call(pid: number, action: string, params: Record<string, unknown>, mode: "inline" | "stream") {
  const config = loadAgentConfig(
    { id: AGENT_ID, environment: "staging", trustedKeys: "unused", target: String(pid) },
    {},
  );
  const app: FastifyInstance = buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry: ACTIONS,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: false,
  });
  try {
    const body = await signer.sign(claimsFor({ action, params, output: { mode } }));
    const res = await app.inject({
      method: "POST",
      url: "/v1/requests",
      headers: { "content-type": "application/jwt" },
      body,
    });
    return { status: res.statusCode, code: res.json().error?.code as string | undefined, body: res.body };
  } finally {
    await app.close();
  }
}

function startPlain(command: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: "ignore" });
  return new Promise((resolve, reject) => {
    child.once("spawn", () => resolve(child));
    child.once("error", reject);
  });
}

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
const attachFiles = (pid: number) =>
  [...readdirSync(`/proc/${pid}/cwd`), ...readdirSync(`/proc/${pid}/root/tmp`)].filter((f) =>
    f.startsWith(".attach_pid"),
  );

describe("JVM actions refuse what they cannot attach, and send it nothing", () => {
  let sleeper: ChildProcess;
  let node: ChildProcess;

  beforeAll(async () => {
    signer = await makeSigner();
    sleeper = await startPlain("sleep", ["600"]);
    node = await startPlain(process.execPath, ["-e", "setInterval(() => {}, 1000)"]);
  });
  afterAll(() => {
    sleeper?.kill("SIGKILL");
    node?.kill("SIGKILL");
  });

  it("a sleep process: every JVM action is 422 KH_TARGET_UNSUPPORTED, and sleep survives them all", async () => {
    for (const [action, params, mode] of JVM_ACTIONS) {
      const res = await call(sleeper.pid!, action, params, mode);
      expect({ action, status: res.status, code: res.code }).toEqual({
        action,
        status: 422,
        code: "KH_TARGET_UNSUPPORTED",
      });
    }
    // The attach client itself, asked directly, refuses on the SigCgt bit before any signal.
    await expect(
      AttachSession.open(sleeper.pid!, silent, new AbortController().signal),
    ).rejects.toMatchObject({
      code: "KH_TARGET_UNSUPPORTED",
      message: expect.stringMatching(/does not handle SIGQUIT/),
    });
    expect(running(sleeper)).toBe(true);
    expect(attachFiles(sleeper.pid!)).toEqual([]);
  });

  it("a Node process: the JVM-only actions say it is a Node process", async () => {
    for (const action of ["thread-dump", "class-histogram", "vm-info"]) {
      const res = await call(node.pid!, action, {}, "inline");
      expect(res.status).toBe(422);
      expect(res.body).toMatch(/is a Node process/);
    }
    expect(running(node)).toBe(true);
  });

  it("a listener that never answers: the request's deadline ends the wait; no signal (sleep would die of it)", async () => {
    const path = `/proc/${sleeper.pid}/root/tmp/.java_pid${sleeper.pid}`;
    const held: import("node:net").Socket[] = [];
    const server: Server = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const session = await AttachSession.open(sleeper.pid!, silent, new AbortController().signal);
      expect(session.signalled).toBe(false);
      const started = performance.now();
      await expect(session.runOk(Jcmd.threadPrint(), AbortSignal.timeout(300))).rejects.toMatchObject({
        name: "TimeoutError",
      });
      expect(performance.now() - started).toBeLessThan(2_000);
      session.release();
      expect(running(sleeper)).toBe(true);
    } finally {
      for (const s of held) s.destroy();
      server.close();
      rmSync(path, { force: true });
    }
  });
});

describe.skipIf(!hasJava)("JVMs that cannot be attached", () => {
  let xrs: JvmTarget;
  let disabled: JvmTarget;
  let disabledNoPerf: JvmTarget;
  /** Started only when the tests run as root (CI does), which may start a process as another uid. */
  let otherUid: JvmTarget | undefined;
  const asRoot = process.getuid?.() === 0;
  let otherCwd: string;

  beforeAll(async () => {
    signer ??= await makeSigner();
    otherCwd = mkdtempSync(join(tmpdir(), "keyhole-jvm-nobody-"));
    chmodSync(otherCwd, 0o777);
    const log = (name: string) => join(otherCwd, `${name}.log`);
    [xrs, disabled, disabledNoPerf, otherUid] = await Promise.all([
      startJvmTarget(["-Xrs"], { logFile: log("xrs") }),
      startJvmTarget(["-XX:+DisableAttachMechanism"], { logFile: log("disabled") }),
      startJvmTarget(["-XX:-UsePerfData"], {
        env: { JAVA_TOOL_OPTIONS: "-XX:+DisableAttachMechanism" },
        logFile: log("no-perf"),
      }),
      asRoot
        ? startJvmTarget([], { cwd: otherCwd, uid: 65534, gid: 65534, logFile: log("nobody") })
        : Promise.resolve(undefined),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([xrs, disabled, disabledNoPerf, otherUid].map((t) => t?.stop(2000)));
  });

  const cases = (): [string, JvmTarget, RegExp][] => [
    ["-XX:+DisableAttachMechanism (perf data)", disabled, /DisableAttachMechanism/],
    ["JAVA_TOOL_OPTIONS=-XX:+DisableAttachMechanism, no perf data", disabledNoPerf, /DisableAttachMechanism/],
    ...(otherUid ? [["another uid", otherUid, /runs as uid 65534/] as [string, JvmTarget, RegExp]] : []),
  ];

  it("-Xrs: no SIGQUIT handler (never signalled), but HotSpot then opens its listener at start: attached as it is", async () => {
    const status = readFileSync(`/proc/${xrs.pid}/status`, "utf8");
    const sigCgt = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)![1]}`);
    expect((sigCgt >> 2n) & 1n).toBe(0n);
    const res = await call(xrs.pid, "thread-dump", {}, "inline");
    expect(res.status).toBe(200);
    expect(xrs.child.exitCode === null && xrs.child.signalCode === null).toBe(true);
    expect(attachFiles(xrs.pid)).toEqual([]);
  });

  it("each is refused 422 KH_TARGET_UNSUPPORTED with the reason, stays up, prints no thread dump, keeps no attach file", async () => {
    for (const [what, target, reason] of cases()) {
      const res = await call(target.pid, "thread-dump", {}, "inline");
      expect({ what, status: res.status, code: res.code }).toEqual({
        what,
        status: 422,
        code: "KH_TARGET_UNSUPPORTED",
      });
      expect(res.body).toMatch(reason);
    }
    for (const [what, target] of cases()) {
      expect({ what, alive: target.child.exitCode === null && target.child.signalCode === null }).toEqual({
        what,
        alive: true,
      });
      // SIGQUIT makes a JVM print "Full thread dump" on stdout; nothing was sent.
      const printed = readFileSync(target.logFile!, "utf8").includes("Full thread dump");
      expect({ what, printed }).toEqual({ what, printed: false });
      expect({ what, files: attachFiles(target.pid) }).toEqual({ what, files: [] });
      expect(existsSync(`/proc/${target.pid}/root/tmp/.java_pid${target.pid}`)).toBe(false);
    }
  });
});
