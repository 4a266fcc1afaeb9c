import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { parseProcCgroup, readCgroupMemory } from "../../../../agent/proc/cgroup-memory.js";
import { type FakeProc, makeFakeProc } from "./fake-proc.js";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/cgroup/", import.meta.url));
const V1 = `${FIXTURES}v1`;
const V2 = `${FIXTURES}v2`;

let proc: FakeProc | undefined;
afterEach(() => proc?.cleanup());

/** Reads the cgroup memory of a fake pid 10 whose /proc/10/cgroup holds `text`. */
function read(text: string | undefined, cgroupRoot: string) {
  proc = makeFakeProc([
    { pid: 10, ppid: 1, cmdline: ["/app"], ...(text !== undefined ? { cgroup: text } : {}) },
  ]);
  return readCgroupMemory(10, { procRoot: proc.root, cgroupRoot });
}

const V1_LINES = (memoryPath: string) =>
  [
    "12:pids:/kubepods/pod-b/ctr-2",
    `11:memory:${memoryPath}`,
    "10:cpu,cpuacct:/kubepods/pod-b/ctr-2",
    "1:name=systemd:/kubepods/pod-b/ctr-2",
    "0::/",
    "",
  ].join("\n");

describe("cgroup v2", () => {
  it("reads memory.max and memory.current of the process's cgroup", () => {
    expect(read("0::/kubepods.slice/pod-a/ctr-1\n", V2)).toEqual({
      version: 2,
      memoryLimitBytes: 536870912,
      memoryUsageBytes: 123456789,
    });
  });

  it('reports "max" as no limit', () => {
    expect(read("0::/kubepods.slice/pod-a/unlimited\n", V2)).toEqual({
      version: 2,
      memoryLimitBytes: null,
      memoryUsageBytes: 2048000,
      note: "no memory limit",
    });
  });

  it("gives null with the reason when the files are missing", () => {
    const result = read("0::/kubepods.slice/pod-a/missing\n", V2);
    expect(result).toMatchObject({ version: 2, memoryLimitBytes: null, memoryUsageBytes: null });
    expect(result.note).toMatch(/memory\.max \(ENOENT\)/);
    expect(result.note).toMatch(/memory\.current \(ENOENT\)/);
  });

  it("falls back to the hierarchy root when the path is not visible (cgroup namespace)", () => {
    const result = read("0::/kubepods.slice/pod-z/ctr-9\n", V2);
    expect(result).toMatchObject({ version: 2, memoryLimitBytes: 1073741824, memoryUsageBytes: 104857600 });
    expect(result.note).toMatch(/not visible/);
  });

  it("reads the root for a process at the namespace root ('0::/')", () => {
    expect(read("0::/\n", V2)).toEqual({
      version: 2,
      memoryLimitBytes: 1073741824,
      memoryUsageBytes: 104857600,
    });
  });

  it("never follows '..' out of the hierarchy (a sibling container outside our namespace)", () => {
    const result = read("0::/../../etc\n", V2);
    expect(result).toMatchObject({ version: 2, memoryLimitBytes: 1073741824 });
    expect(result.note).toMatch(/outside the agent's cgroup namespace/);
  });
});

describe("cgroup v1", () => {
  it("reads memory.limit_in_bytes and memory.usage_in_bytes under memory/", () => {
    expect(read(V1_LINES("/kubepods/pod-b/ctr-2"), V1)).toEqual({
      version: 1,
      memoryLimitBytes: 268435456,
      memoryUsageBytes: 67108864,
    });
  });

  it("reports the huge 'unlimited' value as no limit", () => {
    expect(read(V1_LINES("/kubepods/pod-b/unlimited"), V1)).toEqual({
      version: 1,
      memoryLimitBytes: null,
      memoryUsageBytes: 4096000,
      note: "no memory limit",
    });
  });

  it("gives null with a reason for unparseable and missing files", () => {
    const result = read(V1_LINES("/kubepods/pod-b/garbled"), V1);
    expect(result).toMatchObject({ version: 1, memoryLimitBytes: null, memoryUsageBytes: null });
    expect(result.note).toMatch(/unexpected content/);
    expect(result.note).toMatch(/memory\.usage_in_bytes \(ENOENT\)/);
  });

  it("falls back to the memory hierarchy's root when the path is not visible", () => {
    const result = read(V1_LINES("/docker/0123abcd"), V1);
    expect(result).toMatchObject({ version: 1, memoryLimitBytes: null, memoryUsageBytes: 543371264 });
    expect(result.note).toMatch(/not visible/);
  });
});

describe("unreadable or unknown", () => {
  it("returns nulls with a note when /proc/<pid>/cgroup is missing, instead of throwing", () => {
    const result = read(undefined, V2);
    expect(result).toMatchObject({ version: null, memoryLimitBytes: null, memoryUsageBytes: null });
    expect(result.note).toMatch(/cannot read \/proc\/10\/cgroup \(ENOENT\)/);
  });

  it("returns nulls when no line names a memory cgroup", () => {
    expect(read("3:cpu:/x\n", V1)).toMatchObject({ version: null, memoryLimitBytes: null });
  });

  it("reads the real cgroup of this process without throwing", () => {
    const result = readCgroupMemory(process.pid);
    expect([1, 2, null]).toContain(result.version);
    if (result.memoryUsageBytes !== null) expect(result.memoryUsageBytes).toBeGreaterThan(0);
  });
});

describe("parseProcCgroup", () => {
  it("reports both the v1 memory path and the v2 path of a hybrid host, keeping colons in paths", () => {
    expect(parseProcCgroup(V1_LINES("/a:b"))).toEqual({ v1Memory: "/a:b", v2: "/" });
  });
});
