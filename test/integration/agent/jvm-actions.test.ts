/**
 * The JVM actions against one real JDK 17 process holding known secrets (env, -D property, argv,
 * heap strings: concatenated, UTF-16, char[]), driven through buildApp() with signed envelopes:
 * process-info's runtime, thread-dump, vm-info, class-histogram, heap-snapshot (HPROF, raw and
 * masked: checked record by record with the tests' own HPROF reader) and cpu-profile (JFR, read
 * with the JDK's `jfr print`). After each: the JVM alive, no attach file, no dump, no recording.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClassHistogramAction } from "../../../agent/actions/class-histogram.js";
import { createCpuProfileAction } from "../../../agent/actions/cpu-profile.js";
import { createHeapSnapshotAction } from "../../../agent/actions/heap-snapshot.js";
import { ACTIONS } from "../../../agent/actions/index.js";
import { createThreadDumpAction } from "../../../agent/actions/thread-dump.js";
import type { ActionDefinition } from "../../../agent/actions/types.js";
import { createVmInfoAction } from "../../../agent/actions/vm-info.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { AttachSession } from "../../../agent/runtimes/jvm/attach-session.js";
import { runWritingFile } from "../../../agent/runtimes/jvm/dump-file.js";
import { Jcmd } from "../../../agent/runtimes/jvm/jcmd-commands.js";
import { recordCpu } from "../../../agent/runtimes/jvm/jfr.js";
import { withAttach } from "../../../agent/runtimes/jvm/session.js";
import { newTargetFile } from "../../../agent/runtimes/jvm/target-files.js";
import { TargetLocks } from "../../../agent/runtimes/node/target-locks.js";
import { pollUntil } from "../../../agent/runtimes/node/wait.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { compareMasked, encodingsOf, readHprof } from "../../helpers/hprof.js";
import { hasJava, JVM_SECRETS, type JvmTarget, startJvmTarget } from "../../helpers/jvm-target.js";

const AGENT_ID = "staging/shop/shop-0";
const SECRETS = Object.values(JVM_SECRETS);

let signer: TestSigner;
let jvm: JvmTarget;
/** The JVM's working directory: where the attach file goes. */
let cwd: string;
const locks = new TargetLocks("attach session");

function build(pid: number): FastifyInstance {
  const config = loadAgentConfig(
    { id: AGENT_ID, environment: "staging", trustedKeys: "unused", target: String(pid) },
    {},
  );
  const jvm = { locks };
  const registry = new Map<string, ActionDefinition>([
    ...ACTIONS,
    ["heap-snapshot", createHeapSnapshotAction({ cooldownMs: 0, jvm }) as ActionDefinition],
    ["cpu-profile", createCpuProfileAction({ jvm }) as ActionDefinition],
    ["thread-dump", createThreadDumpAction(jvm) as ActionDefinition],
    ["class-histogram", createClassHistogramAction(jvm) as ActionDefinition],
    ["vm-info", createVmInfoAction(jvm) as ActionDefinition],
  ]);
  return buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: false,
  });
}

async function call(
  app: FastifyInstance,
  action: string,
  params: Record<string, unknown>,
  mode: "inline" | "stream" = "inline",
) {
  const body = await signer.sign(claimsFor({ action, params, output: { mode } }));
  return app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { "content-type": "application/jwt" },
    body,
  });
}

const alive = (t: JvmTarget) => t.child.exitCode === null && t.child.signalCode === null;

/** What the agent may leave in the target: nothing of its own in the cwd or /tmp. */
function leftovers(pid: number): string[] {
  const cwdFiles = readdirSync(`/proc/${pid}/cwd`).filter((f) => f.startsWith(".attach_pid"));
  const tmpFiles = readdirSync(`/proc/${pid}/root/tmp`).filter(
    (f) => f.startsWith("keyhole-heap-") || f.startsWith("keyhole-cpu-") || f.startsWith(`.attach_pid`),
  );
  return [...cwdFiles, ...tmpFiles];
}

/**
 * The recordings the JVM holds: JFR.check through an attach session of the test's own (a `jcmd`
 * would start a JVM per call; the listener is open by now, so nothing is signalled).
 */
async function recordings(pid: number): Promise<string> {
  const session = await AttachSession.open(pid, pino({ level: "silent" }), new AbortController().signal);
  try {
    return await session.runOk(Jcmd.jfrCheck(), AbortSignal.timeout(5_000));
  } finally {
    session.release();
  }
}

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text.includes(secret), secret).toBe(false);
}

describe.skipIf(!hasJava)("JVM actions against a real JDK 17 process", () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    signer = await makeSigner();
    cwd = mkdtempSync(join(tmpdir(), "keyhole-jvm-cwd-"));
    jvm = await startJvmTarget([], { cwd });
    app = build(jvm.pid);
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await jvm?.stop(2000);
  });

  it("process-info says jvm and how it knows; the command line's secrets are masked", async () => {
    const res = await call(app, "process-info", {});
    expect(res.statusCode).toBe(200);
    const result = res.json().result;
    expect(result.runtime).toBe("jvm");
    expect(result.runtimeEvidence).toMatch(/^maps: \/.*\/libjvm\.so$/);
    expect(result.cmdline.some((a: string) => a.startsWith("-Dapp.db.password="))).toBe(true);
    expectNoSecret(res.body);
  });

  it("thread-dump: the JVM's threads with state and frames, masked; first attach by SIGQUIT leaves no attach file", async () => {
    const res = await call(app, "thread-dump", {});
    expect(res.statusCode).toBe(200);
    const { threads, text } = res.json().result;
    expect(text).toContain("Full thread dump");
    const waiter = threads.find((t: { name: string }) => t.name === "keyhole-waiter");
    expect(waiter).toMatchObject({ daemon: true, state: "WAITING" });
    expect(waiter.frames[0]).toMatch(/^java\.lang\.Object\.wait\(/);
    expect(threads.find((t: { name: string }) => t.name === "main")?.frames.join("\n")).toMatch(
      /SecretHolder\.main/,
    );
    expect(
      threads.some((t: { name: string; id?: number }) => t.name === "VM Thread" && t.id === undefined),
    ).toBe(true);
    expectNoSecret(res.body);
    expect(leftovers(jvm.pid)).toEqual([]);
    expect(alive(jvm)).toBe(true);
  });

  it("vm-info: version, flags, uptime, and system properties masked by name", async () => {
    const res = await call(app, "vm-info", {});
    expect(res.statusCode).toBe(200);
    const result = res.json().result;
    expect(result.version).toMatch(/OpenJDK 64-Bit Server VM/);
    expect(result.flags).toMatch(/-XX:MaxHeapSize=134217728/);
    expect(result.uptimeSeconds).toBeGreaterThan(0);
    const byName = new Map(result.systemProperties.map((p: { name: string }) => [p.name, p]));
    expect(byName.get("app.db.password")).toMatchObject({ masked: true });
    expect(byName.get("java.vm.vendor")).toMatchObject({ masked: false });
    expect(result.maskedCount).toBeGreaterThanOrEqual(1);
    expectNoSecret(res.body);
  });

  it("class-histogram: the top rows as JSON, at most limit; limit above 1000 is refused", async () => {
    const res = await call(app, "class-histogram", { limit: 5 });
    expect(res.statusCode).toBe(200);
    const { rows, totalClasses, totalBytes } = res.json().result;
    expect(rows).toHaveLength(5);
    expect(totalClasses).toBeGreaterThan(100);
    expect(totalBytes).toBeGreaterThan(0);
    for (let i = 1; i < rows.length; i++) expect(rows[i].bytes).toBeLessThanOrEqual(rows[i - 1].bytes);
    expect(rows.map((r: { className: string }) => r.className)).toContain("[B");
    const refused = await call(app, "class-histogram", { limit: 1001 });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.code).toBe("KH_BAD_PARAMS");
  });

  describe("heap-snapshot (HPROF)", () => {
    let raw: Buffer;

    it("redact:false streams the JVM's own HPROF: the secrets are in it (the check below can fail)", async () => {
      const res = await call(app, "heap-snapshot", { redact: false }, "stream");
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-disposition"]).toMatch(/filename="heap-\d+-\d{8}T\d{6}Z\.hprof"/);
      raw = res.rawPayload;
      const dump = readHprof(raw);
      const all = dump.strings.join("\n");
      for (const secret of SECRETS) expect(all.includes(secret), secret).toBe(true);
      // The UTF-16 strings are there as UTF-16.
      expect(dump.strings.some((s) => s.includes("☃") && s.includes(JVM_SECRETS.planted))).toBe(true);
      expect(leftovers(jvm.pid)).toEqual([]);
      expect(alive(jvm)).toBe(true);
    });

    it("masked by default: same records and lengths, only text bytes changed, no secret in any encoding", async () => {
      const res = await call(app, "heap-snapshot", {}, "stream");
      expect(res.statusCode).toBe(200);
      const masked = res.rawPayload;
      // Another dump than the raw one (the heap moved on): the record-by-record comparison is the
      // next test's; here the tests' reader walks it whole and finds no secret.
      const dump = readHprof(masked);
      const all = dump.strings.join("\n");
      expectNoSecret(all);
      for (const secret of SECRETS) {
        for (const bytes of encodingsOf(secret)) expect(masked.includes(bytes), secret).toBe(false);
      }
      // The strings around the secrets survive.
      expect(all).toContain("@db.internal:5432/shop");
      expect(dump.strings.some((s) => s.startsWith("Schlüssel ☃ password="))).toBe(true);
      expect(leftovers(jvm.pid)).toEqual([]);
      expect(alive(jvm)).toBe(true);
    });

    it("the masker changes the raw dump's text bytes only: record by record the same", async () => {
      const { maskHprof } = await import("../../../agent/runtimes/jvm/hprof-masker.js");
      const redactor = createRedactor({ fingerprintKey: Buffer.alloc(32, 7) });
      for (const secret of [JVM_SECRETS.env, JVM_SECRETS.argv, JVM_SECRETS.property])
        redactor.remember(secret);
      async function* chunks() {
        for (let i = 0; i < raw.length; i += 65_537) yield raw.subarray(i, i + 65_537);
      }
      const out: Buffer[] = [];
      for await (const piece of maskHprof(chunks(), (t) => redactor.maskText(t))) out.push(piece);
      const masked = Buffer.concat(out);
      const { changedBytes, masked: dump } = compareMasked(raw, masked);
      expect(changedBytes).toBeGreaterThan(0);
      expectNoSecret(dump.strings.join("\n"));
    });
  });

  describe("cpu-profile (JFR)", () => {
    it("inline is refused for a JVM (a recording is binary); seconds above 300 are refused", async () => {
      const inline = await call(app, "cpu-profile", { seconds: 1 });
      expect(inline.statusCode).toBe(400);
      expect(inline.json().error.code).toBe("KH_BAD_PARAMS");
      const long = await call(app, "cpu-profile", { seconds: 301 }, "stream");
      expect(long.statusCode).toBe(400);
    });

    it("streams a JFR recording with CPU samples and none of the secrets (jfr print); no recording left", async () => {
      const res = await call(app, "cpu-profile", { seconds: 2 }, "stream");
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-disposition"]).toMatch(/filename="cpu-\d+-\d{8}T\d{6}Z\.jfr"/);
      const dir = mkdtempSync(join(tmpdir(), "keyhole-jfr-"));
      const file = join(dir, "cpu.jfr");
      writeFileSync(file, res.rawPayload);
      const printed = execFileSync("jfr", ["print", file], {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      });
      // Samples of the worker thread, which burns a little CPU in SecretHolder's lambda.
      expect(printed).toMatch(/jdk\.(Execution|NativeMethod)Sample \{/);
      expect(printed).toMatch(/SecretHolder\.lambda\$main/);
      for (const event of [
        "InitialEnvironmentVariable",
        "InitialSystemProperty",
        "JVMInformation",
        "SystemProcess",
      ]) {
        expect(printed).not.toContain(`jdk.${event} {`);
      }
      expectNoSecret(printed);
      expectNoSecret(readFileSync(file).toString("latin1"));
      expect(await recordings(jvm.pid)).not.toMatch(/keyhole-/);
      expect(leftovers(jvm.pid)).toEqual([]);
      expect(alive(jvm)).toBe(true);
    }, 30_000);
  });

  describe("nothing left behind when the request goes away", () => {
    /** A logger that keeps its messages. */
    function recordingLog(): { log: FastifyBaseLogger; messages: string[] } {
      const messages: string[] = [];
      const keep = (_obj: unknown, msg?: string) => {
        if (msg) messages.push(msg);
      };
      const log = { info: keep, warn: keep, error: keep, debug: keep } as unknown as FastifyBaseLogger;
      return { log, messages };
    }

    it("a heap dump abandoned before the JVM answers: the file it writes is deleted once written", async () => {
      const { log, messages } = recordingLog();
      const gone = AbortSignal.abort(new Error("client gone"));
      await withAttach(
        jvm.pid,
        log,
        new AbortController().signal,
        () => locks.acquire(jvm.pid, "test"),
        async (session) => {
          const file = newTargetFile(jvm.pid, "heap", "hprof");
          // The command goes out, then the request is already gone: the JVM still writes the file.
          await expect(
            runWritingFile(session, Jcmd.heapDump(file.inTarget), file, gone, log),
          ).rejects.toThrow("client gone");
        },
      );
      const removed = await pollUntil(
        () => (messages.includes("removed the abandoned file from the target") ? true : undefined),
        15_000,
      );
      expect(removed).toBe(true);
      expect(leftovers(jvm.pid)).toEqual([]);
      expect(alive(jvm)).toBe(true);
    }, 30_000);

    it("a recording abandoned while it runs is stopped and discarded", async () => {
      const { log } = recordingLog();
      const controller = new AbortController();
      const recording = withAttach(
        jvm.pid,
        log,
        controller.signal,
        () => locks.acquire(jvm.pid, "test"),
        (session) => recordCpu(session, 60, controller.signal, log, "/proc"),
      );
      const started = await pollUntil(
        async () => (/keyhole-/.test(await recordings(jvm.pid)) ? true : undefined),
        10_000,
      );
      expect(started).toBe(true);
      controller.abort(new Error("timed out"));
      await expect(recording).rejects.toThrow("timed out");
      expect(await recordings(jvm.pid)).not.toMatch(/keyhole-/);
      expect(leftovers(jvm.pid)).toEqual([]);
      expect(alive(jvm)).toBe(true);
    }, 30_000);
  });
});
