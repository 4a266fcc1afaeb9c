/** Starts the sample workload (examples/workload.mjs) as a real child process with the given env. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const WORKLOAD = fileURLToPath(new URL("../../examples/workload.mjs", import.meta.url));

export interface Workload {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startWorkload(env: Record<string, string> = {}): Promise<Workload> {
  const child = spawn(process.execPath, [WORKLOAD], {
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
    lines.once("line", (line) => resolve(JSON.parse(line)));
    child.once("exit", (code) => reject(new Error(`workload exited with ${code}`)));
  });
  child.stdout.resume();
  return {
    child,
    pid: child.pid!,
    port: ready.port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
