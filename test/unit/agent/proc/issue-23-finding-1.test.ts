/**
 * Issue 23, finding 1: the heap-snapshot memory guard read the agent's own cgroup, not the target's.
 * With a cgroup namespace per container (the documented sidecar set-up) the target's
 * `/proc/<pid>/cgroup` points outside the agent's view; the reader fell back to the agent's own
 * cgroup and the guard decided on the agent's limit: no agent limit allowed a snapshot of any size,
 * a 256 MiB agent limit let a target at 240 of 256 MiB be snapshotted (and OOM-killed).
 *
 * Each layout of test/fixtures/cgroup-layouts (its README has the figures), and what the guard
 * DECIDES there: refused or allowed, on which cgroup's limit, and why.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AgentError } from "../../../../agent/errors.js";
import { readCgroupChain } from "../../../../agent/proc/cgroup-chain.js";
import { assertSnapshotHeadroom, type UnseenPolicy } from "../../../../agent/proc/memory-guard.js";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/cgroup-layouts/", import.meta.url));
const procRoot = `${FIXTURES}proc`;
const MiB = 1024 * 1024;
/** A small heap: its snapshot needs 2 × 20 + 64 = 104 MiB. */
const HEAP = 20 * MiB;

/** The guard's decision for `pid` against the agent's cgroup mount `mount`: the verdict or the refusal. */
function decide(pid: number, mount: string, unseen: UnseenPolicy = "refuse") {
  try {
    const verdict = assertSnapshotHeadroom(pid, HEAP, {
      procRoot,
      cgroupRoot: `${FIXTURES}${mount}`,
      unseen,
    });
    return { allowed: true as const, verdict };
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("KH_RESOURCE_GUARD");
    expect((err as AgentError).status).toBe(503);
    return { allowed: false as const, message: (err as AgentError).message };
  }
}

describe("issue 23 finding 1: the memory guard decides on the target's cgroup and its ancestors, and refuses when it cannot see them", () => {
  it("v2, a cgroup namespace per container, the agent unlimited: refused (was: allowed on the agent's 'no memory limit')", () => {
    const decision = decide(301, "ns-agent-unlimited");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /cannot see the target's memory cgroup.*outside the agent's cgroup namespace/,
    );
    // The refusal names the operator's override.
    expect(decision.allowed === false && decision.message).toContain("--memory-guard-unseen allow");
    expect(readCgroupChain(301, { procRoot, cgroupRoot: `${FIXTURES}ns-agent-unlimited` }).seen).toBe(false);
  });

  it("v2, a cgroup namespace per container, the agent at 20 of 256 MiB: refused, never decided on the agent's headroom", () => {
    const decision = decide(301, "ns-agent-256mi");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).not.toContain("limit 256.0 MiB, usage 20.0 MiB");
  });

  it("the operator's override allows it, marked unguarded", () => {
    const decision = decide(301, "ns-agent-unlimited", "allow");
    expect(decision.allowed).toBe(true);
    expect(decision.allowed && decision.verdict).toMatchObject({ unguarded: true, headroomBytes: null });
    expect(decision.allowed && decision.verdict.reason).toMatch(/^not guarded/);
  });

  it("v2, a cgroup namespace per container, the target's own mount readable: its 240 of 256 MiB refuses (the OOM the issue reproduced)", () => {
    const decision = decide(302, "ns-agent-256mi");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /16\.0 MiB of headroom \(limit 256\.0 MiB, usage 240\.0 MiB/,
    );
    const chain = readCgroupChain(302, { procRoot, cgroupRoot: `${FIXTURES}ns-agent-256mi` });
    expect(chain).toMatchObject({ seen: true, via: "target-mount", version: 2 });
    // The override does not lift a refusal made on figures it can see.
    expect(decide(302, "ns-agent-256mi", "allow").allowed).toBe(false);
  });

  it("v2, shared namespace: the target's container at 240 of 256 MiB refuses, whatever the agent's own cgroup holds", () => {
    const decision = decide(303, "host-v2");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /limit 256\.0 MiB, usage 240\.0 MiB, cgroup v2: the tightest of 4 level\(s\) is the target's cgroup, .*pod-a\/ctr-app\)/,
    );
    expect(decision.allowed === false && decision.message).not.toContain("ctr-agent");
  });

  it("v1: the target's container at 240 of 256 MiB refuses", () => {
    const decision = decide(304, "host-v1");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /limit 256\.0 MiB, usage 240\.0 MiB, cgroup v1: the tightest of 4 level\(s\) is the target's cgroup/,
    );
  });

  it("no limit anywhere (container, pod, kubepods, root): allowed, and it says it read every level", () => {
    const decision = decide(305, "host-v2");
    expect(decision.allowed).toBe(true);
    expect(decision.allowed && decision.verdict).toMatchObject({ headroomBytes: null });
    expect(decision.allowed && decision.verdict.unguarded).toBeUndefined();
    expect(decision.allowed && decision.verdict.reason).toMatch(
      /no memory limit on the target's cgroup or its ancestors \(cgroup v2, 4 level\(s\) read\)/,
    );
  });

  it("a limit only on an ancestor (v2): the pod's 480 of 512 MiB refuses, naming the pod", () => {
    const decision = decide(306, "host-v2");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /32\.0 MiB of headroom \(limit 512\.0 MiB, usage 480\.0 MiB, cgroup v2: the tightest of 4 level\(s\) is an ancestor of the target's cgroup, .*kubepods\.slice\/pod-b\)/,
    );
  });

  it("a limit only on an ancestor (v1): refused the same way", () => {
    const decision = decide(308, "host-v1");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /limit 512\.0 MiB, usage 480\.0 MiB, cgroup v1/,
    );
  });

  it("a roomy limit only on an ancestor: allowed, on that ancestor's headroom", () => {
    const decision = decide(307, "host-v2");
    expect(decision.allowed).toBe(true);
    expect(decision.allowed && decision.verdict).toMatchObject({
      headroomBytes: 7 * 1024 * MiB,
      bindingDir: `${FIXTURES}host-v2/kubepods.slice/pod-r`,
    });
  });

  it("an unreadable /proc/<pid>/cgroup refuses (was: allowed as 'not guarded')", () => {
    const decision = decide(999, "host-v2");
    expect(decision.allowed).toBe(false);
    expect(decision.allowed === false && decision.message).toMatch(
      /cannot read \/proc\/999\/cgroup \(ENOENT\)/,
    );
  });
});
