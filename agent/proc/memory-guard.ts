/**
 * The memory guard of heap snapshots. Taking a snapshot makes V8 build a copy of the heap's graph
 * and serialise it inside the target, roughly doubling what the heap uses while it runs; in a pod
 * with a memory limit that can get the workload OOM-killed, the opposite of a diagnostic. So
 * before a snapshot the pod's headroom (limit minus usage of the target's memory cgroup, v2 or v1)
 * is compared with what the snapshot needs, and the snapshot is refused when it does not fit.
 *
 * `snapshotHeadroomVerdict` is pure; `assertSnapshotHeadroom` reads the cgroup files and throws.
 */
import { AgentError } from "../errors.js";
import { type CgroupMemory, type CgroupOptions, readCgroupMemory } from "./cgroup-memory.js";

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
  /** Limit minus usage; null when there is no limit (or it cannot be read: see `reason`). */
  readonly headroomBytes: number | null;
  readonly reason: string;
}

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/**
 * Decides whether a snapshot of a heap using `usedHeapBytes` fits in the cgroup's headroom.
 * No limit → allowed. A limit without a readable usage → refused (the limit is real and we cannot
 * tell how close to it the pod is). No readable limit at all → allowed, with the reason saying so:
 * refusing there would make snapshots impossible on hosts that hide the hierarchy.
 */
export function snapshotHeadroomVerdict(
  cgroup: CgroupMemory,
  usedHeapBytes: number,
  marginBytes = SNAPSHOT_MARGIN_BYTES,
): HeadroomVerdict {
  const neededBytes = Math.ceil(usedHeapBytes * SNAPSHOT_HEAP_FACTOR + marginBytes);
  const limit = cgroup.memoryLimitBytes;
  if (limit === null) {
    const unlimited = cgroup.note?.includes("no memory limit") ?? false;
    return {
      allowed: true,
      neededBytes,
      headroomBytes: null,
      reason: unlimited
        ? "the target's cgroup has no memory limit"
        : `the target's memory limit is unknown (${cgroup.note ?? "no cgroup"}); not guarded`,
    };
  }
  const usage = cgroup.memoryUsageBytes;
  if (usage === null) {
    return {
      allowed: false,
      neededBytes,
      headroomBytes: null,
      reason: `the target's cgroup has a memory limit of ${mib(limit)} but its usage cannot be read (${cgroup.note ?? "unknown"})`,
    };
  }
  const headroomBytes = Math.max(0, limit - usage);
  const allowed = headroomBytes >= neededBytes;
  return {
    allowed,
    neededBytes,
    headroomBytes,
    reason:
      `a snapshot needs about ${mib(neededBytes)} (${SNAPSHOT_HEAP_FACTOR}× the ${mib(usedHeapBytes)} of used heap ` +
      `+ ${mib(marginBytes)}); the pod has ${mib(headroomBytes)} of headroom (limit ${mib(limit)}, usage ${mib(usage)}, cgroup v${cgroup.version})`,
  };
}

/**
 * Reads the target's cgroup memory and throws KH_RESOURCE_GUARD (with the figures) when a
 * snapshot of `usedHeapBytes` would not fit; returns the verdict otherwise.
 */
export function assertSnapshotHeadroom(
  pid: number,
  usedHeapBytes: number,
  options: CgroupOptions & { readonly marginBytes?: number } = {},
): HeadroomVerdict {
  const verdict = snapshotHeadroomVerdict(readCgroupMemory(pid, options), usedHeapBytes, options.marginBytes);
  if (!verdict.allowed) {
    throw new AgentError(
      "KH_RESOURCE_GUARD",
      `heap snapshot refused to protect the workload: ${verdict.reason}`,
    );
  }
  return verdict;
}
