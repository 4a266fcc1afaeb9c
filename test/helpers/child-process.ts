/**
 * A Node child process for the tests that need a real one: started with a minimal environment
 * (PATH and what the test names), its stdout JSON lines collected (and, with a log file, written
 * there with its stderr), "ready" when it prints the line a test recognises. Every failure (it
 * exits first, it takes too long, a line never comes) says which process, how it was started and
 * what it wrote on stderr.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { relative } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export type LogLine = Record<string, unknown>;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when it exited. */
  readonly atMs: number;
}

export interface ChildOptions {
  /** Names the process in failures and in its log file. */
  readonly name: string;
  /** Node's arguments: flags, then the script and its arguments. */
  readonly args: readonly string[];
  /** The node binary; the test's own unless told (a workload on another Node major). */
  readonly node?: string;
  /** Added to PATH, which every child gets; nothing else of the test's environment is passed. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where stdout and stderr are kept for after the test; in memory only without one. */
  readonly logFile?: string;
  /** Recognises the "ready" line among the JSON lines on stdout. */
  readonly isReady: (line: LogLine) => boolean;
  /** How long it may take to be ready; 20 s unless told. */
  readonly timeoutMs?: number;
  /** Its argv[0] (what `--target NAME` matches), node's path unless told. */
  readonly argv0?: string;
  /** Its working directory; the test's unless told. */
  readonly cwd?: string;
  /** Run as this uid and gid (the test runs as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export interface StartedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The line that said it was ready. */
  readonly ready: LogLine;
  /** The URL of its "listening" line, "" if it logged none. */
  readonly url: string;
  /** Every JSON line on stdout so far. */
  readonly lines: readonly LogLine[];
  readonly logFile: string | undefined;
  /** What it wrote on stderr so far (the last 64 KiB). */
  stderr(): string;
  /** Resolves once it has exited. */
  readonly exited: Promise<Exit>;
  /** Resolves with the first line (so far or to come) that matches; rejects if it exits first. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` if it still runs. */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs` (at once with 0); resolves with its exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

const STDERR_KEPT = 64 * 1024;
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function parseJsonLine(text: string): LogLine | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `node bin/keyhole.js agent …`: the command line as a person would read it in a failure. */
function commandLine(args: readonly string[]): string {
  return ["node", ...args.map((a) => (a.startsWith(ROOT) ? relative(ROOT, a) : a))]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)))
    .join(" ");
}

/** Spawns `node …args`; resolves once it prints its ready line, or stops it and rejects. */
export async function startChild(options: ChildOptions): Promise<StartedProcess> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const child = spawn(options.node ?? process.execPath, [...options.args], {
    env: { PATH: process.env.PATH ?? "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.argv0 ? { argv0: options.argv0 } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  const log: WriteStream | undefined = options.logFile
    ? createWriteStream(options.logFile, { flags: "a", mode: 0o600 })
    : undefined;
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
    log?.write(chunk);
  });

  const lines: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  createInterface({ input: child.stdout! }).on("line", (text) => {
    log?.write(`${text}\n`);
    const line = parseJsonLine(text);
    if (!line) return;
    lines.push(line);
    for (const listener of listeners) listener(line);
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, atMs: performance.now() })),
  );
  const closed = once(child, "close").catch(() => undefined);
  void closed.then(() => log?.end());

  const failure = (what: string) => {
    const tail = stderr.trim() ? stderr.trim().split("\n").slice(-20).join("\n    ") : "(nothing)";
    return new Error(
      [
        `${options.name} ${what}`,
        `  $ ${commandLine(options.args)}`,
        `  stderr: ${tail}`,
        ...(options.logFile ? [`  log: ${options.logFile}`] : []),
      ].join("\n"),
    );
  };
  const waitFor = (match: (line: LogLine) => boolean, waitMs = 20_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const found = lines.find(match);
      if (found) return resolve(found);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      const timer = setTimeout(() => {
        done();
        reject(failure(`logged no matching line within ${waitMs} ms`));
      }, waitMs);
      const listener = (line: LogLine) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      listeners.add(listener);
      void exited.then(({ code, signal }) => {
        if (!listeners.has(listener)) return;
        done();
        reject(failure(`exited (${signal ?? `code ${code}`}) before the line it was waited for`));
      });
    });
  const stop = async (graceMs = 5000): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
      const timer = graceMs > 0 ? setTimeout(() => child.kill("SIGKILL"), graceMs).unref() : undefined;
      await exited;
      clearTimeout(timer);
    }
    return child.exitCode;
  };

  let ready: LogLine;
  try {
    ready = await waitFor(options.isReady, timeoutMs);
  } catch {
    const early = child.exitCode !== null || child.signalCode !== null;
    await stop(500);
    // Its last stderr bytes may arrive after "exit": wait (briefly) for the pipes to close.
    await Promise.race([closed, sleep(1000, undefined, { ref: false })]);
    throw early
      ? failure(`exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready`)
      : failure(`was not ready within ${timeoutMs} ms`);
  }
  return {
    name: options.name,
    child,
    pid: child.pid!,
    ready,
    get url() {
      const listening = lines.find((l) => l.msg === "listening");
      return typeof listening?.url === "string" ? listening.url : "";
    },
    lines,
    logFile: options.logFile,
    stderr: () => stderr,
    exited,
    waitFor,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop,
  };
}
