/**
 * The order the test files start in. Several files run at once (vitest.config.ts), so the suite
 * ends when its longest files end: those start first, the many short files fill in around them.
 * Vitest's own order (its cache of last run's durations, else file size, larger first) knows
 * nothing of durations on a fresh clone, as in CI, and file size says little here: the longest
 * files start real processes, they are not the largest.
 *
 * SLOWEST lists the files that took 7 s or more (2026-12-02, 2 cores), longest first. It is only an
 * order: a file missing from it, or a stale entry, costs time, never a result.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

const SLOWEST = [
  "test/integration/fleet/fleet.test.ts",
  "test/e2e/postgres-replicas.test.ts",
  "test/integration/artifacts/cli-processes.test.ts",
  "test/integration/artifacts/issue-23-finding-2.test.ts",
  "test/integration/agent/node-majors.test.ts",
  "test/integration/artifacts/stream.test.ts",
  "test/e2e/cli.test.ts",
  "test/e2e/issue-16-finding-3.test.ts",
  "test/integration/artifacts/s3-direct.test.ts",
  "test/integration/agent/inspector-actions.test.ts",
  "test/faults/controller-stop.test.ts",
  "test/e2e/demo.test.ts",
  "test/e2e/governance-cli.test.ts",
  "test/load/workload-latency.test.ts",
  "test/integration/controller/store-contract.test.ts",
  "test/e2e/telemetry-otlp.test.ts",
  "test/integration/artifacts/part-boundaries.test.ts",
  "test/integration/audit/pinned-key.test.ts",
  "test/e2e/attack-f2-terminal-text.test.ts",
  "test/e2e/issue-16-finding-6.test.ts",
  "test/faults/store-unavailable.test.ts",
  "test/unit/agent/redact/pathological.test.ts",
  "test/fuzz/agent-envelopes.test.ts",
  "test/faults/agent-stop.test.ts",
  "test/deploy/agent-bundle.test.ts",
  "test/unit/agent/redact/properties.test.ts",
  "test/faults/limits.test.ts",
  "test/e2e/no-native-addon.test.ts",
  "test/integration/controller/canonical-subjects.test.ts",
  "test/e2e/issue-16-finding-1.test.ts",
];

/** The position of `spec` in SLOWEST, or SLOWEST.length for a file not in it. */
function rank(spec: TestSpecification): number {
  const path = spec.moduleId.replaceAll("\\", "/");
  const index = SLOWEST.findIndex((file) => path.endsWith(`/${file}`));
  return index === -1 ? SLOWEST.length : index;
}

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    // Vitest's order (failed first, then by duration or size), then the slowest files moved ahead;
    // the sort is stable, so the rest keep vitest's order.
    const sorted = await super.sort(files);
    return sorted
      .map((spec, i) => ({ spec, i, rank: rank(spec) }))
      .sort((a, b) => a.rank - b.rank || a.i - b.i)
      .map(({ spec }) => spec);
  }
}
