/**
 * Starts test/fixtures/workloads/leaky-workload.mjs as a real process: its environment holds the
 * given variables (a secret among them), and it writes the given lines to its log and keeps them
 * in memory. Its argv[0] is `name`, so an agent can find it with `--target NAME` across restarts.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type StartedProcess, startChild } from "./child-process.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/workloads/leaky-workload.mjs", import.meta.url));

export async function startLeakyWorkload(options: {
  /** argv[0] of the process: what `--target NAME` matches. */
  readonly name: string;
  /** Its environment (PATH is added). */
  readonly env: Record<string, string>;
  /** Where it appends `lines`. */
  readonly logFile: string;
  readonly lines: readonly string[];
  /** A scratch file for handing it the lines (never its environment: that is what is learned). */
  readonly linesFile: string;
  /** Arguments after the script (its command line). */
  readonly args?: readonly string[];
}): Promise<StartedProcess> {
  await writeFile(options.linesFile, JSON.stringify(options.lines));
  // --inspect-port=0: SIGUSR1 opens its inspector on a free port (inspector actions).
  return startChild({
    name: options.name,
    argv0: options.name,
    args: ["--inspect-port=0", FIXTURE, ...(options.args ?? [])],
    env: { ...options.env, LOG_FILE: options.logFile, LINES_FILE: options.linesFile },
    isReady: (line) => line.ready === true,
  });
}
