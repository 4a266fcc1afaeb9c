/**
 * The inspector tests' workload (test/fixtures/inspector/heap-workload.mjs) as a real child process
 * of any Node binary, with its inspector flags (port 0, so tests never collide).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("../fixtures/inspector/heap-workload.mjs", import.meta.url));
/** The fixture's DATABASE_PASSWORD: a secret the diagnostic report must mask. */
export const DB_PASSWORD = "pg-pass-7f3k29xq81mz";
/** Mirrors plantedToken() of the fixture. */
export const PLANTED = ["gh", "p_", "Kh0le", "Z9".repeat(15), "xq"].join("");

export interface Target {
  readonly child: ChildProcess;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts the fixture (24 MB held, mostly in large strings: a snapshot takes ~0.5 s) on `node` with
 * `flags` (always some `--inspect*`).
 */
export async function startTarget(
  flags: string[],
  env: Record<string, string> = {},
  node = process.execPath,
): Promise<Target> {
  const child = spawn(node, [...flags, FIXTURE], {
    env: {
      PATH: process.env.PATH ?? "",
      HOLD_MB: "24",
      RECORD_SHARE: "0.05",
      DATABASE_PASSWORD: DB_PASSWORD,
      ...env,
    },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once("line", () => resolve());
    child.once("exit", (code) => reject(new Error(`fixture exited with ${code}`)));
  });
  child.stdout!.resume();
  return {
    child,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
