/**
 * The memory guard of heap snapshots. Taking a snapshot makes V8 build a copy of the heap's graph
 * and serialise it inside the target, roughly doubling what the heap uses while it runs; in a pod
 * with a memory limit that can get the workload OOM-killed, the opposite of a diagnostic. So
 * before a snapshot the pod's headroom (limit minus usage, the tightest over the target's memory
 * cgroup and its ancestors, v2 or v1) is compared with what the snapshot needs, and the snapshot is
 * refused when it does not fit, or when the target's cgroup cannot be seen at all (a guard that
 * cannot see what it guards refuses; issue 23, finding 1) unless the operator allowed that.
 *
 * `snapshotHeadroomVerdict` is pure; `assertSnapshotHeadroom` reads the cgroup files (cgroup-chain.ts)
 * and throws.
 */
import { AgentError } from "../errors.js";
import { type CgroupChain, type CgroupLevel, readCgroupChain } from "./cgroup-chain.js";
import type { CgroupOptions } from "./cgroup-memory.js";

/** What a snapshot needs per byte of used JS heap. */
export const SNAPSHOT_HEAP_FACTOR = 2;
/**
 * Added to the need: the serialiser's buffers, the inspector's outgoing queue (which grows when
 * the agent's reader pushes back) and the allocations of the workload that keeps serving.
 */
export const SNAPSHOT_MARGIN_BYTES = 64 * 1024 * 1024;

/** The guard's decision, with the figures it was made from. */
export interface HeadroomVerdict {
  readonly allowed: boolean;
  readonly neededBytes: number;
  /** The least headroom (limit minus usage) over the limited levels; null when none has a limit or nothing was seen. */
  readonly headroomBytes: number | null;
  /** The cgroup directory whose limit binds (the least headroom), when one does. */
  readonly bindingDir?: string;
  /** True when allowed only by the operator's override, without seeing the target's cgroup. */
  readonly unguarded?: boolean;
  readonly reason: string;
}

/**
 * What the guard does when it cannot see the target's cgroup: refuse (the default), or allow an
 * unguarded snapshot because the operator said so (`--memory-guard-unseen allow`).
 */
export type UnseenPolicy = "refuse" | "allow";

/** The operator's override, named in every refusal it would lift. */
export const UNSEEN_OVERRIDE = "--memory-guard-unseen allow (KEYHOLE_MEMORY_GUARD_UNSEEN=allow)";

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/**
 * Decides whether a snapshot of a heap using `usedHeapBytes` fits in the tightest headroom of the
 * target's cgroup and its ancestors. Refused when the target's cgroup cannot be seen (unless the
 * operator allows that), when any level's files cannot be read or understood, and when the least
 * headroom over the limited levels is below the need. Allowed when it fits, or when no level seen
 * has a limit.
 */
export function snapshotHeadroomVerdict(
  chain: CgroupChain,
  usedHeapBytes: number,
  marginBytes = SNAPSHOT_MARGIN_BYTES,
  unseen: UnseenPolicy = "refuse",
): HeadroomVerdict {
  const neededBytes = Math.ceil(usedHeapBytes * SNAPSHOT_HEAP_FACTOR + marginBytes);
  const need = `a snapshot needs about ${mib(neededBytes)} (${SNAPSHOT_HEAP_FACTOR}× the ${mib(usedHeapBytes)} of used heap + ${mib(marginBytes)})`;
  return headroomVerdict(chain, neededBytes, need, unseen);
}

/**
 * Decides whether `neededBytes` of new memory (described by `need`, e.g. "a heap dump on the
 * target's in-memory /tmp needs about 300 MiB") fit in the tightest headroom of the target's cgroup
 * and its ancestors; the same rules as for a snapshot.
 */
export function headroomVerdict(
  chain: CgroupChain,
  neededBytes: number,
  need: string,
  unseen: UnseenPolicy = "refuse",
): HeadroomVerdict {
  if (!chain.seen) {
    return unseen === "allow"
      ? {
          allowed: true,
          neededBytes,
          headroomBytes: null,
          unguarded: true,
          reason: `not guarded: the agent cannot see the target's memory cgroup (${chain.reason}); allowed by --memory-guard-unseen allow`,
        }
      : {
          allowed: false,
          neededBytes,
          headroomBytes: null,
          reason: `the agent cannot see the target's memory cgroup, so it cannot tell whether ${need} fits (${chain.reason}); the operator can allow unguarded snapshots with ${UNSEEN_OVERRIDE}`,
        };
  }
  const broken = chain.levels.find((l) => l.problem !== undefined);
  if (broken) {
    return {
      allowed: false,
      neededBytes,
      headroomBytes: null,
      reason: `the memory cgroup ${broken.dir} cannot be read (${broken.problem}), so the target's headroom is unknown`,
    };
  }
  let binding: { level: CgroupLevel; headroom: number } | undefined;
  for (const level of chain.levels) {
    if (level.limitBytes === null || level.usageBytes === null) continue;
    const headroom = Math.max(0, level.limitBytes - level.usageBytes);
    if (!binding || headroom < binding.headroom) binding = { level, headroom };
  }
  const unseenAbove = chain.note ? `; ${chain.note}` : "";
  if (!binding) {
    return {
      allowed: true,
      neededBytes,
      headroomBytes: null,
      reason: `no memory limit on the target's cgroup or its ancestors (cgroup v${chain.version}, ${chain.levels.length} level(s) read)${unseenAbove}`,
    };
  }
  const { level, headroom } = binding;
  const which = level === chain.levels[0] ? "the target's cgroup" : "an ancestor of the target's cgroup";
  return {
    allowed: headroom >= neededBytes,
    neededBytes,
    headroomBytes: headroom,
    bindingDir: level.dir,
    reason:
      `${need}; the pod has ${mib(headroom)} of headroom (limit ${mib(level.limitBytes!)}, usage ${mib(level.usageBytes!)}, cgroup v${chain.version}: ` +
      `the tightest of ${chain.levels.length} level(s) is ${which}, ${level.dir})${unseenAbove}`,
  };
}

/**
 * Reads the target's cgroup chain and throws KH_RESOURCE_GUARD (with the reason and figures) when a
 * snapshot of `usedHeapBytes` is refused; returns the verdict otherwise.
 */
export function assertSnapshotHeadroom(
  pid: number,
  usedHeapBytes: number,
  options: CgroupOptions & { readonly marginBytes?: number; readonly unseen?: UnseenPolicy } = {},
): HeadroomVerdict {
  const verdict = snapshotHeadroomVerdict(
    readCgroupChain(pid, options),
    usedHeapBytes,
    options.marginBytes,
    options.unseen,
  );
  if (!verdict.allowed) {
    throw new AgentError(
      "KH_RESOURCE_GUARD",
      `heap snapshot refused to protect the workload: ${verdict.reason}`,
    );
  }
  return verdict;
}
