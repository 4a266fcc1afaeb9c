/**
 * Real processes for the fault tests: the keyhole CLI (controller or agent) started from the built
 * `bin/keyhole.js`, its JSON log lines collected, killed with real signals; and an agent stand-in
 * on loopback that holds each envelope as long as a test wants (a dispatch "in flight").
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const KEYHOLE_BIN = fileURLToPath(new URL("../../bin/keyhole.js", import.meta.url));

export interface KeyholeProcess {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: Record<string, unknown>[];
  readonly url: string;
  /** Resolves with the exit code and signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** Resolves with the first log line that matches. */
  waitFor(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `keyhole <args>` and resolves once it logs `listening`. */
export async function startKeyhole(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<KeyholeProcess> {
  const child = spawn(process.execPath, [KEYHOLE_BIN, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const listeners = new Set<(line: Record<string, unknown>) => void>();
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += String(chunk);
  });
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    lines.push(line);
    for (const listener of listeners) listener(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>(
    (resolve) => child.once("exit", (code, signal) => resolve({ code, signal, atMs: performance.now() })),
  );
  const waitFor = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = lines.find(match);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${stderr.slice(0, 2000)}`));
      }, timeoutMs);
      const listener = (line: Record<string, unknown>) => {
        if (!match(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
      void exited.then(() => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`exited before the expected log line; stderr: ${stderr.slice(0, 2000)}`));
      });
    });
  const listening = await waitFor((l) => l.msg === "listening");
  return {
    child,
    lines,
    url: String(listening.url),
    exited,
    waitFor,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Stops a process that is still running (SIGKILL) and waits for it. */
export async function ensureStopped(p: KeyholeProcess | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGKILL");
  await once(p.child, "exit");
}

export interface HoldingAgent {
  readonly url: string;
  /** The claims of every envelope received, in order. */
  readonly received: Record<string, unknown>[];
  /** How long to hold the next answers (ms); Infinity holds until the connection closes. */
  holdMs: number;
  /** Resolves once `n` envelopes have arrived. */
  waitForEnvelopes(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** An agent stand-in: reads each envelope's claims (unverified) and answers a result after `holdMs`. */
export async function startHoldingAgent(holdMs = Number.POSITIVE_INFINITY): Promise<HoldingAgent> {
  const received: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (c) => {
      body += String(c);
    });
    req.on("end", () => {
      const claims = JSON.parse(Buffer.from(body.split(".")[1] ?? "", "base64url").toString() || "{}");
      received.push(claims);
      for (const wake of waiters.splice(0)) wake();
      open.add(res);
      res.once("close", () => open.delete(res));
      const answer = () =>
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            requestId: claims.jti,
            agent: claims.aud,
            action: claims.action,
            startedAt: new Date().toISOString(),
            durationMs: 1,
            result: { pid: 1 },
          }),
        );
      if (Number.isFinite(agent.holdMs)) setTimeout(answer, agent.holdMs).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const agent: HoldingAgent = {
    url: `http://127.0.0.1:${port}`,
    received,
    holdMs,
    waitForEnvelopes: (n, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${received.length} of ${n} envelopes arrived`)),
          timeoutMs,
        );
        const check = () => {
          if (received.length >= n) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return agent;
}
