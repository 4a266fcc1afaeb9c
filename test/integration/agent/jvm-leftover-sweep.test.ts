/**
 * Issue 18: an agent killed while a JVM wrote a heap dump (or a recording) for it left the file in
 * the target's /tmp — every secret of the heap, unmasked, at rest in the pod. The agent now names
 * each such file after its own pid and sweeps what a gone agent left: when it starts, and before
 * each JVM action. Files of an agent that still runs (two agents sharing a /tmp on one host) and
 * files of other names are left alone. Real JDK 17 process, real `keyhole agent` process.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS } from "../../../agent/actions/index.js";
import { createThreadDumpAction } from "../../../agent/actions/thread-dump.js";
import type { ActionDefinition } from "../../../agent/actions/types.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { TargetLocks } from "../../../agent/runtimes/node/target-locks.js";
import { pollUntil } from "../../../agent/runtimes/node/wait.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { hasJava, JVM_SECRETS, type JvmTarget, startJvmTarget } from "../../helpers/jvm-target.js";
import { Stack } from "../../helpers/stack.js";

const stack = new Stack("jvm-sweep");
let signer: TestSigner;
let jvm: JvmTarget;
let cwd: string;

/** A pid that ran and exited: what a killed agent's pid is. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(child.stdout);
}

/** Writes a dump-like file into the JVM's /tmp under `name`; returns its path as the agent sees it. */
function plant(name: string): string {
  const file = `/proc/${jvm.pid}/root/tmp/${name}`;
  writeFileSync(file, `JAVA PROFILE 1.0.2\0${Object.values(JVM_SECRETS).join("\n")}`);
  return file;
}

const hex = () => randomBytes(8).toString("hex");

describe.skipIf(!hasJava)("files a killed agent left in a JVM's /tmp (issue 18)", () => {
  const planted: string[] = [];
  beforeAll(async () => {
    signer = await makeSigner();
    cwd = mkdtempSync(join(tmpdir(), "keyhole-jvm-sweep-cwd-"));
    jvm = await startJvmTarget([], { cwd });
  }, 60_000);
  afterAll(async () => {
    for (const file of planted) rmSync(file, { force: true });
    jvm?.child.kill("SIGKILL");
    await stack.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it("issue-18 leftover dump: removed before the next JVM action; a running agent's file and other names stay", async () => {
    const left = plant(`keyhole-heap-${deadPid()}-${hex()}.hprof`);
    const leftJfr = plant(`keyhole-cpu-${deadPid()}-${hex()}.jfr`);
    // Another agent that still runs (the JVM's own process stands for it): its file may be mid-write.
    const running = plant(`keyhole-heap-${jvm.pid}-${hex()}.hprof`);
    const other = plant(`keyhole-heap-${hex()}.hprof`);
    planted.push(left, leftJfr, running, other);

    const config = loadAgentConfig(
      { id: "staging/shop/shop-0", environment: "staging", trustedKeys: "unused", target: String(jvm.pid) },
      {},
    );
    const app: FastifyInstance = buildApp(config, {
      trustedKeys: signer.trustedKeys,
      registry: new Map<string, ActionDefinition>([
        ...ACTIONS,
        [
          "thread-dump",
          createThreadDumpAction({ locks: new TargetLocks("attach session") }) as ActionDefinition,
        ],
      ]),
      redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
      logger: false,
    });
    try {
      const body = await signer.sign(
        claimsFor({ action: "thread-dump", params: {}, output: { mode: "inline" } }),
      );
      const res = await app.inject({
        method: "POST",
        url: "/v1/requests",
        headers: { "content-type": "application/jwt" },
        body,
      });
      expect(res.statusCode, res.body).toBe(200);
    } finally {
      await app.close();
    }
    expect(existsSync(left)).toBe(false);
    expect(existsSync(leftJfr)).toBe(false);
    expect(existsSync(running)).toBe(true);
    expect(existsSync(other)).toBe(true);
  }, 60_000);

  it("issue-18 leftover dump: an agent that starts removes it at once, and says so", async () => {
    const left = plant(`keyhole-heap-${deadPid()}-${hex()}.hprof`);
    planted.push(left);
    const agent = await stack.startAgent({
      id: "staging/shop/sweep-start",
      environment: "staging",
      target: jvm.pid,
      actions: ["process-info"],
    });
    const said = await pollUntil(
      () => agent.lines.find((l) => String(l.msg).startsWith("removed files an earlier agent left")),
      10_000,
    );
    expect(existsSync(left)).toBe(false);
    expect(said?.files).toContain(left.slice(left.lastIndexOf("/") + 1));
  }, 60_000);
});
