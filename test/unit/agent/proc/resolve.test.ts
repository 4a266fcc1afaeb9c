import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../../../agent/errors.js";
import { resolveTarget } from "../../../../agent/proc/resolve.js";
import { type FakeProc, type FakeProcess, makeFakeProc } from "./fake-proc.js";
import { startWorkload, type Workload } from "./workload-child.js";

function failure(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

/** A pod with a shared PID namespace: pause, the app, the agent (started by tini) and its helper. */
const POD: FakeProcess[] = [
  { pid: 1, ppid: 0, cmdline: ["/pause"] },
  { pid: 2, ppid: 0, comm: "kthreadd", cmdline: [] },
  { pid: 7, ppid: 0, cmdline: ["node", "/app/server.js"] },
  { pid: 20, ppid: 0, cmdline: ["/sbin/tini", "--", "keyhole"] },
  { pid: 21, ppid: 20, cmdline: ["/usr/bin/node", "/keyhole/bin/keyhole.js", "agent"] },
  { pid: 30, ppid: 21, cmdline: ["/usr/bin/helper"] },
];
const AGENT = 21;

let proc: FakeProc | undefined;
afterEach(() => proc?.cleanup());

function pod(extra: FakeProcess[] = []): string {
  proc = makeFakeProc([...POD, ...extra]);
  return proc.root;
}

describe("resolveTarget without a spec (the only other process)", () => {
  it("skips pause, kernel threads, the agent, its ancestors and descendants", () => {
    expect(resolveTarget(undefined, { procRoot: pod(), selfPid: AGENT })).toBe(7);
  });

  it("lists the candidates' pids and names when there is more than one", () => {
    const err = failure(() =>
      resolveTarget(undefined, {
        procRoot: pod([{ pid: 40, ppid: 0, cmdline: ["/usr/local/bin/python3", "worker.py"] }]),
        selfPid: AGENT,
      }),
    );
    expect(err.code).toBe("KH_TARGET_NOT_FOUND");
    expect(err.message).toContain("2 candidate processes: 7 (node), 40 (python3)");
    expect(err.message).toContain("--target");
  });

  it("says so when no other process is visible (no shared PID namespace)", () => {
    proc = makeFakeProc([{ pid: 1, ppid: 0, cmdline: ["/usr/bin/node", "keyhole.js"] }]);
    const err = failure(() => resolveTarget(undefined, { procRoot: proc!.root, selfPid: 1 }));
    expect(err.code).toBe("KH_TARGET_NOT_FOUND");
    expect(err.message).toMatch(/shareProcessNamespace/);
  });

  it("survives a ppid cycle in a corrupt tree", () => {
    const root = pod([
      { pid: 50, ppid: 51, cmdline: [] },
      { pid: 51, ppid: 50, cmdline: [] },
    ]);
    expect(resolveTarget(undefined, { procRoot: root, selfPid: AGENT })).toBe(7);
  });
});

describe("resolveTarget with a name", () => {
  it("matches argv[0]'s basename or comm, exactly once", () => {
    const root = pod([
      { pid: 40, ppid: 0, comm: "gunicorn", cmdline: ["/venv/bin/python3", "-m", "gunicorn"] },
    ]);
    expect(resolveTarget("python3", { procRoot: root, selfPid: AGENT })).toBe(40);
    expect(resolveTarget("gunicorn", { procRoot: root, selfPid: AGENT })).toBe(40);
  });

  it("never matches the agent itself", () => {
    // Both the agent (21) and the app (7) run node; the agent is not a candidate.
    expect(resolveTarget("node", { procRoot: pod(), selfPid: AGENT })).toBe(7);
  });

  it("refuses an ambiguous name, saying how many matched", () => {
    const root = pod([{ pid: 41, ppid: 0, cmdline: ["node", "/app/worker.js"] }]);
    const err = failure(() => resolveTarget("node", { procRoot: root, selfPid: AGENT }));
    expect(err.code).toBe("KH_TARGET_NOT_FOUND");
    expect(err.message).toContain('2 processes are named "node": 7 (node), 41 (node)');
  });

  it("refuses a name nothing matches", () => {
    const err = failure(() => resolveTarget("nginx", { procRoot: pod(), selfPid: AGENT }));
    expect(err.code).toBe("KH_TARGET_NOT_FOUND");
    expect(err.message).toContain('no process named "nginx"');
  });
});

describe("resolveTarget with a pid", () => {
  it("accepts an existing pid and refuses a missing one", () => {
    const root = pod();
    expect(resolveTarget("7", { procRoot: root, selfPid: AGENT })).toBe(7);
    const err = failure(() => resolveTarget("999", { procRoot: root, selfPid: AGENT }));
    expect(err.code).toBe("KH_TARGET_NOT_FOUND");
    expect(err.message).toContain("999");
  });
});

describe("resolveTarget against the real /proc", () => {
  let dir: string;
  let workload: Workload;
  const name = `kh-wl-${process.pid % 100000}`;
  beforeAll(async () => {
    // A symlink to node with a unique name: the child's comm and argv[0] carry that name.
    dir = mkdtempSync(join(tmpdir(), "keyhole-resolve-"));
    const executable = join(dir, name);
    symlinkSync(process.execPath, executable);
    workload = await startWorkload({ executable });
  });
  afterAll(async () => {
    await workload.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds a real process by pid", () => {
    expect(resolveTarget(String(workload.pid), { selfPid: process.pid })).toBe(workload.pid);
  });

  it("finds a real process by name", () => {
    expect(resolveTarget(name, { selfPid: process.pid })).toBe(workload.pid);
  });

  it("refuses a pid that exited", async () => {
    const gone = await startWorkload();
    await gone.stop();
    expect(failure(() => resolveTarget(String(gone.pid), { selfPid: process.pid })).code).toBe(
      "KH_TARGET_NOT_FOUND",
    );
  });
});
