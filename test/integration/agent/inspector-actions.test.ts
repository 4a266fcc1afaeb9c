/**
 * The inspector actions against real Node processes and their real inspectors, driven through
 * buildApp() with signed envelopes: heap-snapshot (raw and masked), cpu-profile and
 * diagnostic-report; after each the target's inspector is closed again and the target alive.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCpuProfileAction } from "../../../agent/actions/cpu-profile.js";
import { createDiagnosticReportAction } from "../../../agent/actions/diagnostic-report.js";
import { createHeapSnapshotAction } from "../../../agent/actions/heap-snapshot.js";
import { ACTIONS } from "../../../agent/actions/index.js";
import type { ActionDefinition } from "../../../agent/actions/types.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { parseProcCgroup } from "../../../agent/proc/cgroup-memory.js";
import { createRedactor, WITHHELD_MARKER } from "../../../agent/redact/index.js";
import { JsonStringMasker } from "../../../agent/runtimes/node/json-string-masker.js";
import { loopbackListeners } from "../../../agent/runtimes/node/listeners.js";
import { TargetLocks } from "../../../agent/runtimes/node/target-locks.js";
import { pollUntil } from "../../../agent/runtimes/node/wait.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { DB_PASSWORD, PLANTED, startTarget, type Target } from "../../helpers/inspector-target.js";

const AGENT_ID = "staging/shop/shop-0";

/**
 * A cgroup mount holding the real target's own cgroup path (read from its real /proc/<pid>/cgroup)
 * with a 512 MiB limit and 480 MiB used: the guard finds the target there, as it would on a host
 * whose hierarchy the agent shares. Its ancestors set no limit.
 */
function tightCgroupFor(pid: number): string {
  const root = mkdtempSync(join(tmpdir(), "keyhole-tight-cgroup-"));
  const paths = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
  const limit = String(512 * 1024 * 1024);
  const usage = String(480 * 1024 * 1024);
  if (paths.v1Memory !== undefined) {
    const segments = paths.v1Memory.split("/").filter(Boolean);
    for (let n = 0; n <= segments.length; n++) {
      const dir = join(root, "memory", ...segments.slice(0, n));
      mkdirSync(dir, { recursive: true });
      const own = n === segments.length;
      writeFileSync(join(dir, "memory.limit_in_bytes"), own ? limit : "9223372036854771712");
      writeFileSync(join(dir, "memory.usage_in_bytes"), usage);
    }
  } else {
    const dir = join(root, ...(paths.v2 ?? "/").split("/").filter(Boolean));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(root, "cgroup.controllers"), "memory");
    writeFileSync(join(dir, "memory.max"), limit);
    writeFileSync(join(dir, "memory.current"), usage);
  }
  return root;
}

const ports = (pid: number) => new Set(loopbackListeners(pid).map((l) => l.port));
const alive = (t: Target) => t.child.exitCode === null && t.child.signalCode === null;

let signer: TestSigner;
let target: Target;
/** The target's listening ports with its inspector closed: the fixture's HTTP port only. */
let baseline: Set<number>;
const locks = new TargetLocks();

function build(pid: number, extra: { cgroupRoot?: string; cooldownMs?: number } = {}): FastifyInstance {
  const config = loadAgentConfig(
    { id: AGENT_ID, environment: "staging", trustedKeys: "unused", target: String(pid) },
    {},
  );
  const registry = new Map<string, ActionDefinition>([
    ...ACTIONS,
    [
      "heap-snapshot",
      createHeapSnapshotAction({ cooldownMs: extra.cooldownMs ?? 0, locks }) as ActionDefinition,
    ],
    ["cpu-profile", createCpuProfileAction({ locks }) as ActionDefinition],
    ["diagnostic-report", createDiagnosticReportAction({ locks }) as ActionDefinition],
  ]);
  return buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: false,
    ...(extra.cgroupRoot ? { cgroupRoot: extra.cgroupRoot } : {}),
  });
}

async function call(
  app: FastifyInstance,
  action: string,
  params: Record<string, unknown>,
  mode: "inline" | "stream" = "inline",
) {
  const body = await signer.sign(claimsFor({ action, params, output: { mode } }));
  const res = await app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { "content-type": "application/jwt" },
    body,
  });
  return res;
}

/** Waits (bounded) until the target listens on exactly `expected` ports. */
async function expectPorts(pid: number, expected: Set<number>): Promise<void> {
  const settled = await pollUntil(() => {
    const now = ports(pid);
    return now.size === expected.size && [...expected].every((p) => now.has(p)) ? true : undefined;
  }, 5_000);
  expect([...ports(pid)].sort()).toEqual([...expected].sort());
  expect(settled).toBe(true);
}

// biome-ignore lint/suspicious/noExplicitAny: snapshot JSON is checked field by field
function checkSnapshot(snapshot: any): { nodes: number; edges: number; strings: number } {
  const meta = snapshot.snapshot.meta;
  expect(snapshot.nodes.length).toBe(snapshot.snapshot.node_count * meta.node_fields.length);
  expect(snapshot.edges.length).toBe(snapshot.snapshot.edge_count * meta.edge_fields.length);
  expect(Array.isArray(snapshot.strings)).toBe(true);
  // Every node's name is an index into strings.
  const nameField = meta.node_fields.indexOf("name");
  let maxName = 0;
  for (let i = nameField; i < snapshot.nodes.length; i += meta.node_fields.length) {
    maxName = Math.max(maxName, snapshot.nodes[i]);
  }
  expect(maxName).toBeLessThan(snapshot.strings.length);
  return {
    nodes: snapshot.snapshot.node_count,
    edges: snapshot.snapshot.edge_count,
    strings: snapshot.strings.length,
  };
}

beforeAll(async () => {
  signer = await makeSigner();
  target = await startTarget(["--inspect-port=0"]);
  baseline = ports(target.pid);
});
afterAll(async () => {
  await target?.stop();
});

describe("heap-snapshot", () => {
  let raw: Buffer;

  it("streams a valid snapshot of a workload holding tens of MB; raw keeps the planted token; the inspector is closed after", async () => {
    const app = build(target.pid);
    const res = await call(app, "heap-snapshot", { redact: false }, "stream");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers["content-disposition"]).toMatch(
      new RegExp(`^attachment; filename="heap-${target.pid}-\\d{8}T\\d{6}Z\\.heapsnapshot"$`),
    );
    raw = res.rawPayload;
    expect(raw.length).toBeGreaterThan(4 * 1024 * 1024);
    const counts = checkSnapshot(JSON.parse(raw.toString("utf8")));
    expect(counts.nodes).toBeGreaterThan(30_000);
    expect(raw.includes(PLANTED)).toBe(true);
    // The stream ends only after the inspector is closed: no waiting needed.
    expect([...ports(target.pid)].sort()).toEqual([...baseline].sort());
    expect(alive(target)).toBe(true);
    await app.close();
  });

  it("masks the strings by default: same structure, the token gone, and a second snapshot works (inspector reopened)", async () => {
    const app = build(target.pid);
    const res = await call(app, "heap-snapshot", {}, "stream");
    expect(res.statusCode).toBe(200);
    const text = res.rawPayload.toString("utf8");
    expect(text.includes(PLANTED)).toBe(false);
    expect(text).toContain("⟦masked:github-token:");
    checkSnapshot(JSON.parse(text));
    await expectPorts(target.pid, baseline);
    expect(alive(target)).toBe(true);
    await app.close();
  });

  it("the masking transform keeps node, edge and string counts exactly (one raw capture, masked in odd chunks)", () => {
    const redactor = createRedactor({ fingerprintKey: Buffer.alloc(32, 7) });
    const masker = new JsonStringMasker((v) => redactor.maskText(v), WITHHELD_MARKER);
    const text = raw.toString("utf8");
    let out = "";
    for (let i = 0; i < text.length; i += 65_537) out += masker.write(text.slice(i, i + 65_537));
    out += masker.end();
    const before = JSON.parse(text);
    const after = JSON.parse(out);
    expect(checkSnapshot(after)).toEqual(checkSnapshot(before));
    // Element by element without the matcher's deep diff, which is slow on arrays of millions.
    const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
    expect(same(after.nodes, before.nodes)).toBe(true);
    expect(same(after.edges, before.edges)).toBe(true);
    expect(after.snapshot).toEqual(before.snapshot);
    expect(out.includes(PLANTED)).toBe(false);
    expect(masker.maskedCount).toBeGreaterThan(0);
  });

  it("a client killed mid-snapshot (real HTTP) leaves the inspector closed and the target alive", async () => {
    const app = build(target.pid);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as { port: number };
    const body = await signer.sign(
      claimsFor({ action: "heap-snapshot", params: {}, output: { mode: "stream" } }),
    );
    const firstChunk = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/v1/requests",
          headers: { "content-type": "application/jwt" },
        },
        (res) => {
          res.once("data", (chunk: Buffer) => {
            req.destroy();
            resolve(chunk.length);
          });
        },
      );
      req.on("error", () => {});
      req.once("close", () => reject(new Error("closed before any data")));
      req.end(body);
    });
    expect(firstChunk).toBeGreaterThan(0);
    await expectPorts(target.pid, baseline);
    expect(alive(target)).toBe(true);
    // The target's lock is free again.
    await pollUntil(() => (locks.isHeld(target.pid) ? undefined : true), 10_000);
    expect(locks.isHeld(target.pid)).toBe(false);
    await app.close();
  });

  it("a second snapshot within the cooldown is refused with KH_RATE_LIMITED", async () => {
    const app = build(target.pid, { cooldownMs: 60_000 });
    const first = await call(app, "heap-snapshot", {}, "stream");
    expect(first.statusCode).toBe(200);
    const second = await call(app, "heap-snapshot", {}, "stream");
    expect(second.statusCode).toBe(429);
    expect(second.json().error.code).toBe("KH_RATE_LIMITED");
    await expectPorts(target.pid, baseline);
    await app.close();
  });

  it("the memory guard refuses with KH_RESOURCE_GUARD (503) in a tight cgroup, and closes the inspector it opened", async () => {
    const app = build(target.pid, { cgroupRoot: tightCgroupFor(target.pid) });
    const res = await call(app, "heap-snapshot", {}, "stream");
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe("KH_RESOURCE_GUARD");
    expect(res.json().error.message).toMatch(
      /needs about [\d.]+ MiB .* headroom \(limit 512\.0 MiB, usage 480\.0 MiB/,
    );
    await expectPorts(target.pid, baseline);
    expect(alive(target)).toBe(true);
    await app.close();
  });
});

describe("cpu-profile and diagnostic-report", () => {
  it("cpu-profile of a Node target: more than 60 s is refused before the inspector opens; stream mode sends the .cpuprofile as a file", async () => {
    const app = build(target.pid);
    const long = await call(app, "cpu-profile", { seconds: 61 });
    expect(long.statusCode).toBe(400);
    expect(long.json().error.code).toBe("KH_BAD_PARAMS");
    expect([...ports(target.pid)].sort()).toEqual([...baseline].sort());
    const res = await call(app, "cpu-profile", { seconds: 1 }, "stream");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-disposition"]).toMatch(/filename="cpu-\d+-\d{8}T\d{6}Z\.cpuprofile"/);
    expect(JSON.parse(res.body).nodes.length).toBeGreaterThan(0);
    await expectPorts(target.pid, baseline);
    await app.close();
  });

  it("cpu-profile returns a valid profile and closes the inspector", async () => {
    const app = build(target.pid);
    const res = await call(app, "cpu-profile", { seconds: 1 });
    expect(res.statusCode).toBe(200);
    const profile = res.json().result;
    expect(Array.isArray(profile.nodes)).toBe(true);
    expect(profile.nodes.length).toBeGreaterThan(0);
    expect(profile.endTime).toBeGreaterThan(profile.startTime);
    expect(profile.endTime - profile.startTime).toBeGreaterThanOrEqual(900_000);
    await expectPorts(target.pid, baseline);
    expect(alive(target)).toBe(true);
    await app.close();
  });

  it("diagnostic-report masks the target's secret env var and command line, and closes the inspector", async () => {
    const app = build(target.pid);
    const res = await call(app, "diagnostic-report", {});
    expect(res.statusCode).toBe(200);
    const report = res.json().result;
    expect(report.header.processId).toBe(target.pid);
    expect(report.environmentVariables.DATABASE_PASSWORD).toMatch(/^⟦masked:/);
    expect(report.environmentVariables.HOLD_MB).toBe("24");
    expect(JSON.stringify(report)).not.toContain(DB_PASSWORD);
    expect(report.header.commandLine).toContain("--inspect-port=0");
    await expectPorts(target.pid, baseline);
    expect(alive(target)).toBe(true);
    await app.close();
  });

  it("a second inspector action on the same target while one runs → KH_BUSY", async () => {
    const app = build(target.pid);
    const profiling = call(app, "cpu-profile", { seconds: 2 });
    await pollUntil(() => (locks.isHeld(target.pid) ? true : undefined), 5_000);
    const busy = await call(app, "diagnostic-report", {});
    expect(busy.statusCode).toBe(429);
    expect(busy.json().error.code).toBe("KH_BUSY");
    const busyHeap = await call(app, "heap-snapshot", {}, "stream");
    expect(busyHeap.json().error.code).toBe("KH_BUSY");
    expect((await profiling).statusCode).toBe(200);
    await expectPorts(target.pid, baseline);
    await app.close();
  });
});

describe("an inspector the target already had open", () => {
  it("is used and left open", async () => {
    const open = await startTarget(["--inspect=127.0.0.1:0"]);
    try {
      const before = ports(open.pid);
      expect(before.size).toBe(2); // its HTTP port and its inspector
      const app = build(open.pid);
      const res = await call(app, "diagnostic-report", {});
      expect(res.statusCode).toBe(200);
      const heap = await call(app, "heap-snapshot", { redact: false }, "stream");
      expect(heap.statusCode).toBe(200);
      checkSnapshot(JSON.parse(heap.rawPayload.toString("utf8")));
      expect([...ports(open.pid)].sort()).toEqual([...before].sort());
      expect(alive(open)).toBe(true);
      await app.close();
    } finally {
      await open.stop();
    }
  });
});

describe("a target that is not a Node process", () => {
  it("is refused with KH_TARGET_UNSUPPORTED before any signal: SIGUSR1 would have terminated it", async () => {
    // `sleep` does not handle SIGUSR1, whose default action ends the process.
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      await pollUntil(
        () => (readFileSync(`/proc/${child.pid}/cmdline`, "utf8").startsWith("sleep") ? true : undefined),
        5_000,
      );
      const app = build(child.pid!);
      for (const [action, params, mode] of [
        ["heap-snapshot", { redact: false }, "stream"],
        ["cpu-profile", { seconds: 1 }, "inline"],
        ["diagnostic-report", {}, "inline"],
      ] as const) {
        const res = await call(app, action, params, mode);
        expect(res.statusCode, `${action}: ${res.body}`).toBe(422);
        expect(res.json().error.code).toBe("KH_TARGET_UNSUPPORTED");
        expect(res.json().error.message).toMatch(/does not handle SIGUSR1/);
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(child.exitCode).toBe(null);
      expect(child.signalCode).toBe(null);
      // process-info works on any process.
      expect((await call(app, "process-info", {})).statusCode).toBe(200);
      await app.close();
    } finally {
      child.kill("SIGTERM");
    }
  });
});
