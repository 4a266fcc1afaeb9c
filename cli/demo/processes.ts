/**
 * Starting keyhole's own processes (and the sample workload) as real children: no shell, stdout
 * and stderr teed to a log file, "ready" detected from the structured line each one prints.
 * Used by `keyhole demo` and by the end-to-end tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The package root, from dist/cli/demo/ or cli/demo/. */
const ROOT = fileURLToPath(
  new URL(import.meta.url.includes("/dist/") ? "../../../" : "../../", import.meta.url),
);
export const KEYHOLE_BIN = `${ROOT}bin/keyhole.js`;
export const SAMPLE_WORKLOAD = `${ROOT}examples/workload.mjs`;
/** The sample JVM workload, run with `java` (its single-file source launcher) when a JDK is installed. */
export const SAMPLE_JVM_WORKLOAD = `${ROOT}examples/JvmWorkload.java`;

export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The first structured line that said the process is ready. */
  readonly ready: Record<string, unknown>;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface StartOptions {
  readonly name: string;
  /** The program; this Node unless told (the demo's JVM workload runs `java`). */
  readonly command?: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly logFile: string;
  /** Recognises the "ready" line among the process's stdout JSON lines. */
  readonly isReady: (line: Record<string, unknown>) => boolean;
  readonly timeoutMs?: number;
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(line);
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Spawns `node …args` (or `command …args`) and resolves once it prints its ready line; rejects (and kills it) otherwise. */
export async function startProcess(options: StartOptions): Promise<Service> {
  const log = createWriteStream(options.logFile, { flags: "a", mode: 0o600 });
  const child = spawn(options.command ?? process.execPath, [...options.args], {
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.pipe(log, { end: false });
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const stop = async (graceMs = 5000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs).unref();
    const [code] = await exited;
    clearTimeout(timer);
    return code;
  };

  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `${options.name} did not become ready within ${options.timeoutMs ?? 15_000} ms (log: ${options.logFile})`,
          ),
        ),
      options.timeoutMs ?? 15_000,
    );
    lines.on("line", (line) => {
      log.write(`${line}\n`);
      const json = parseJsonLine(line);
      if (json && options.isReady(json)) {
        clearTimeout(timer);
        resolve(json);
      }
    });
    exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${options.name} exited (${signal ?? `code ${code}`}) before it was ready (log: ${options.logFile})`,
        ),
      );
    });
  }).catch(async (err: unknown) => {
    await stop(500);
    throw err;
  });
  exited.finally(() => log.end());
  return { name: options.name, child, pid: child.pid!, ready, logFile: options.logFile, stop };
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `keyhole …args` to completion and captures its output. */
export async function runKeyhole(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<CommandResult> {
  const child = spawn(process.execPath, [KEYHOLE_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs).unref();
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
