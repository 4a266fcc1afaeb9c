/**
 * Starts examples/workload.mjs as a real child process (never through a shell) for the target and
 * action tests, and stops it again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const WORKLOAD = fileURLToPath(new URL("../../../../examples/workload.mjs", import.meta.url));

/** A fake secret in the shape a test can recognise; never a real credential. */
export const FAKE_API_KEY = `demo-${randomBytes(12).toString("hex")}`;
export const FAKE_DB_PASSWORD = "s3cr3t-pass";
export const FAKE_DATABASE_URL = `postgres://app:${FAKE_DB_PASSWORD}@db:5432/app`;

export interface Workload {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly argv: string[];
  stop(): Promise<number | null>;
}

export interface WorkloadOptions {
  /** Extra arguments after the script. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The executable to run; process.execPath by default (a symlink to it gives the child another name). */
  readonly executable?: string;
}

/** Spawns the workload and resolves once it printed its ready line. */
export async function startWorkload(options: WorkloadOptions = {}): Promise<Workload> {
  const executable = options.executable ?? process.execPath;
  const argv = [executable, WORKLOAD, ...(options.args ?? [])];
  const child = spawn(executable, argv.slice(1), {
    env: options.env ?? {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      PORT: "0",
      DEMO_API_KEY: FAKE_API_KEY,
      DATABASE_URL: FAKE_DATABASE_URL,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const ready = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("workload did not become ready")), 10_000);
    createInterface({ input: child.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    exited.then(([code]) => reject(new Error(`workload exited with ${code} before it was ready`)));
  });
  return {
    child,
    pid: ready.pid,
    port: ready.port,
    argv,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = await exited;
      return code;
    },
  };
}
