import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AgentError } from "../../../../agent/errors.js";
import {
  assertSnapshotHeadroom,
  SNAPSHOT_MARGIN_BYTES,
  snapshotHeadroomVerdict,
} from "../../../../agent/proc/memory-guard.js";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/cgroup-guard/", import.meta.url));
const procRoot = `${FIXTURES}proc`;
const MiB = 1024 * 1024;
/** pid 100 names a v2 cgroup, pid 200 a v1 memory cgroup (see the fixtures' README). */
const VERSIONS = [
  ["v2", 100],
  ["v1", 200],
] as const;

describe.each(VERSIONS)("memory guard, cgroup %s", (_version, pid) => {
  it("refuses when the headroom is below 2× the used heap plus the margin, naming the figures", () => {
    let caught: unknown;
    try {
      assertSnapshotHeadroom(pid, 50 * MiB, { procRoot, cgroupRoot: `${FIXTURES}tight` });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AgentError);
    expect((caught as AgentError).code).toBe("KH_RESOURCE_GUARD");
    expect((caught as AgentError).status).toBe(503);
    expect((caught as AgentError).message).toContain("needs about 164.0 MiB");
    expect((caught as AgentError).message).toContain(
      "32.0 MiB of headroom (limit 512.0 MiB, usage 480.0 MiB",
    );
  });

  it("allows when the headroom is enough", () => {
    const verdict = assertSnapshotHeadroom(pid, 500 * MiB, { procRoot, cgroupRoot: `${FIXTURES}roomy` });
    expect(verdict.allowed).toBe(true);
    expect(verdict.headroomBytes).toBe(7 * 1024 * MiB);
    expect(verdict.neededBytes).toBe(1000 * MiB + SNAPSHOT_MARGIN_BYTES);
  });

  it("refuses a heap whose snapshot would not fit even a roomy pod", () => {
    expect(() =>
      assertSnapshotHeadroom(pid, 4 * 1024 * MiB, { procRoot, cgroupRoot: `${FIXTURES}roomy` }),
    ).toThrow(/heap snapshot refused/);
  });

  it("allows when there is no limit", () => {
    const verdict = assertSnapshotHeadroom(pid, 100 * 1024 * MiB, {
      procRoot,
      cgroupRoot: `${FIXTURES}unlimited`,
    });
    expect(verdict).toMatchObject({ allowed: true, headroomBytes: null });
    expect(verdict.reason).toMatch(/no memory limit/);
  });
});

describe("snapshotHeadroomVerdict", () => {
  const level = (limitBytes: number | null, usageBytes: number | null, problem?: string) => ({
    dir: "/sys/fs/cgroup/pod/ctr",
    limitBytes,
    usageBytes,
    ...(problem ? { problem } : {}),
  });
  const chain = (...levels: ReturnType<typeof level>[]) => ({
    seen: true as const,
    version: 2 as const,
    via: "agent-mount" as const,
    levels,
  });
  it("refuses a known limit with an unreadable usage", () => {
    const verdict = snapshotHeadroomVerdict(
      chain(level(512 * MiB, null, "cannot read memory.current (ENOENT)")),
      MiB,
    );
    expect(verdict.allowed).toBe(false);
    expect(verdict.reason).toMatch(/cannot be read \(cannot read memory\.current/);
  });
  it("refuses (and names the override) when the target's cgroup cannot be seen; allows unguarded only when told to", () => {
    const unseen = { seen: false as const, version: null, reason: "cannot read /proc/1/cgroup (EACCES)" };
    const refused = snapshotHeadroomVerdict(unseen, MiB);
    expect(refused).toMatchObject({ allowed: false });
    expect(refused.reason).toMatch(/cannot see the target's memory cgroup.*--memory-guard-unseen allow/);
    const allowed = snapshotHeadroomVerdict(unseen, MiB, SNAPSHOT_MARGIN_BYTES, "allow");
    expect(allowed).toMatchObject({ allowed: true, unguarded: true });
  });
  it("counts exactly at the boundary", () => {
    const c = chain(level(200 * MiB, 100 * MiB));
    expect(snapshotHeadroomVerdict(c, 18 * MiB, 64 * MiB).allowed).toBe(true);
    expect(snapshotHeadroomVerdict(c, 18 * MiB + 1, 64 * MiB).allowed).toBe(false);
  });
  it("decides on the tightest level, wherever it is", () => {
    const c = chain(level(null, 50 * MiB), level(1024 * MiB, 900 * MiB), level(8192 * MiB, 1024 * MiB));
    const verdict = snapshotHeadroomVerdict(c, MiB, 64 * MiB);
    expect(verdict).toMatchObject({ allowed: true, headroomBytes: 124 * MiB });
    expect(verdict.reason).toMatch(/an ancestor of the target's cgroup/);
  });
});
