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
  it("refuses a known limit with an unreadable usage", () => {
    const verdict = snapshotHeadroomVerdict(
      {
        version: 2,
        memoryLimitBytes: 512 * MiB,
        memoryUsageBytes: null,
        note: "cannot read memory.current (ENOENT)",
      },
      MiB,
    );
    expect(verdict.allowed).toBe(false);
  });
  it("allows (and says so) when the limit cannot be read at all", () => {
    const verdict = snapshotHeadroomVerdict(
      {
        version: null,
        memoryLimitBytes: null,
        memoryUsageBytes: null,
        note: "cannot read /proc/1/cgroup (EACCES)",
      },
      MiB,
    );
    expect(verdict).toMatchObject({ allowed: true });
    expect(verdict.reason).toMatch(/unknown .* not guarded/);
  });
  it("counts exactly at the boundary", () => {
    const cgroup = { version: 2 as const, memoryLimitBytes: 200 * MiB, memoryUsageBytes: 100 * MiB };
    expect(snapshotHeadroomVerdict(cgroup, 18 * MiB, 64 * MiB).allowed).toBe(true);
    expect(snapshotHeadroomVerdict(cgroup, 18 * MiB + 1, 64 * MiB).allowed).toBe(false);
  });
});
