/**
 * The inspector tests' workload (test/fixtures/inspector/heap-workload.mjs) on any Node binary,
 * with its inspector flags (port 0, so tests never collide): test/helpers/workload.ts underneath.
 */
import { fileURLToPath } from "node:url";
import { startWorkload, type Workload } from "./workload.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/inspector/heap-workload.mjs", import.meta.url));
/** The fixture's DATABASE_PASSWORD: a secret the diagnostic report must mask. */
export const DB_PASSWORD = "pg-pass-7f3k29xq81mz";
/** Mirrors plantedToken() of the fixture. */
export const PLANTED = ["gh", "p_", "Kh0le", "Z9".repeat(15), "xq"].join("");

export type Target = Workload;

/**
 * Starts the fixture (24 MB held, mostly in large strings: a snapshot takes ~0.5 s) on `node` (this
 * test's own unless told) with `flags` (always some `--inspect*`).
 */
export function startTarget(
  flags: string[],
  env: Record<string, string> = {},
  node?: string,
): Promise<Target> {
  return startWorkload(
    { HOLD_MB: "24", RECORD_SHARE: "0.05", DATABASE_PASSWORD: DB_PASSWORD, ...env },
    { script: FIXTURE, nodeArgs: flags, name: "target", node },
  );
}
