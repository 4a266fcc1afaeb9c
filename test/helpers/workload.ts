/**
 * Starts a workload as a real child process: the sample examples/workload.mjs unless told another
 * script (which, like it, prints `{"ready":true,"pid":…,"port":…}` once listening).
 */
import { fileURLToPath } from "node:url";
import { type StartedProcess, startChild } from "./child-process.js";

export const WORKLOAD = fileURLToPath(new URL("../../examples/workload.mjs", import.meta.url));

export interface Workload extends StartedProcess {
  /** The port it listens on. */
  readonly port: number;
}

export interface WorkloadOptions {
  /** The script to run; the sample workload unless told. */
  readonly script?: string;
  /** Node's flags before the script, e.g. `--inspect-port=0`. */
  readonly nodeArgs?: readonly string[];
  readonly name?: string;
  readonly logFile?: string;
}

/** Starts the workload with PORT=0 and `env` (beside PATH). */
export async function startWorkload(
  env: Record<string, string> = {},
  options: WorkloadOptions = {},
): Promise<Workload> {
  const started = await startChild({
    name: options.name ?? "workload",
    args: [...(options.nodeArgs ?? []), options.script ?? WORKLOAD],
    env: { PORT: "0", ...env },
    logFile: options.logFile,
    isReady: (line) => line.ready === true,
  });
  return Object.assign(started, { port: Number(started.ready.port) });
}
