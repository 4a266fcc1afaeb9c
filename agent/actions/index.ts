/**
 * The explicit action registry. Every action the agent can run is listed here by hand, once;
 * nothing is discovered at run time. Adding an action is one file plus one line below.
 */
import { createBundleAction } from "./bundle.js";
import { classHistogramAction } from "./class-histogram.js";
import { cpuProfileAction } from "./cpu-profile.js";
import { diagnosticReportAction } from "./diagnostic-report.js";
import { envAction } from "./env.js";
import { heapSnapshotAction } from "./heap-snapshot.js";
import { logTailAction } from "./log-tail.js";
import { netConnectionsAction } from "./net-connections.js";
import { processInfoAction } from "./process-info.js";
import { threadDumpAction } from "./thread-dump.js";
import type { ActionDefinition } from "./types.js";
import { vmInfoAction } from "./vm-info.js";

function buildRegistry(actions: readonly ActionDefinition[]): ReadonlyMap<string, ActionDefinition> {
  const registry = new Map<string, ActionDefinition>();
  for (const action of actions) {
    if (registry.has(action.name)) throw new Error(`duplicate action in the registry: ${action.name}`);
    registry.set(action.name, action);
  }
  return registry;
}

/** Every action that answers on its own. */
const SINGLE_ACTIONS: ReadonlyMap<string, ActionDefinition> = buildRegistry([
  processInfoAction as ActionDefinition,
  envAction as ActionDefinition,
  logTailAction as ActionDefinition,
  netConnectionsAction as ActionDefinition,
  heapSnapshotAction as ActionDefinition,
  cpuProfileAction as ActionDefinition,
  diagnosticReportAction as ActionDefinition,
  threadDumpAction as ActionDefinition,
  classHistogramAction as ActionDefinition,
  vmInfoAction as ActionDefinition,
]);

/** Everything the agent can run: the single actions and `bundle`, which combines them. */
export const ACTIONS: ReadonlyMap<string, ActionDefinition> = buildRegistry([
  ...SINGLE_ACTIONS.values(),
  createBundleAction(SINGLE_ACTIONS) as ActionDefinition,
]);

export { buildRegistry };
