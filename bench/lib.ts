/** Shared bench plumbing: timing, medians, result lines, and starting real processes. */
import { type ChildProcess, spawn } from "node:child_process";
import { type KeyObject, randomBytes, sign } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Principal } from "../controller/identity/principal.js";
import { REQUEST_ALG, REQUEST_TYP } from "../protocol/request.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const KEYHOLE_BIN = `${ROOT}bin/keyhole.js`;

export interface BenchResult {
  readonly name: string;
  /** What was measured, with its unit. */
  readonly value: string;
  readonly reference: string;
  readonly ratio: number;
  /** e.g. "≤ 1.5×" */
  readonly goal: string;
  readonly met: boolean;
  readonly extra?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function formatResult(r: BenchResult): string {
  return [
    `${r.met ? "✓" : "✗"} ${r.name}`,
    `    measured   ${r.value}`,
    `    reference  ${r.reference}`,
    `    ratio      ${r.ratio.toFixed(2)}×  (goal ${r.goal})${r.extra ? `\n    ${r.extra}` : ""}`,
  ].join("\n");
}

/** VmRSS of a live process, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

export interface Started {
  readonly child: ChildProcess;
  readonly ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts `node args…`, resolving on the first stdout JSON line that `isReady` accepts. */
export async function startNode(
  args: readonly string[],
  isReady: (line: Record<string, unknown>) => boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Started> {
  const child = spawn(process.execPath, [...args], { env, stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 15 s: ${args.join(" ")}`)), 15_000);
    lines.on("line", (line) => {
      try {
        const json = JSON.parse(line);
        if (isReady(json)) {
          clearTimeout(timer);
          resolve(json);
        }
      } catch {
        // not a JSON line
      }
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code} before ready: ${args.join(" ")}`)));
  });
  // Keep draining stdout so a chatty logger never blocks on a full pipe.
  child.stdout.resume();
  return {
    child,
    ready,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

export const isListening = (line: Record<string, unknown>) => line.msg === "listening" || line.ready === true;

/**
 * A signed `process-info` envelope for agent `aud` (unique jti, valid `ttlSeconds`), signed with
 * node:crypto directly: byte for byte what the controller's signEnvelope and jose's CompactSign
 * produce, fast enough to sign a hundred thousand in seconds.
 */
export function processInfoEnvelope(
  signer: { readonly kid: string; readonly key: KeyObject },
  options: { readonly aud: string; readonly ttlSeconds: number },
): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid: signer.kid })}.${b64({
    iss: "keyhole-controller",
    sub: "svc:bench",
    aud: options.aud,
    env: "staging",
    iat: now,
    exp: now + options.ttlSeconds,
    jti: randomBytes(16).toString("base64url"),
    action: "process-info",
    params: {},
    reason: "bench",
    approvals: [],
    output: { mode: "inline" },
  })}`;
  return `${input}.${sign(null, Buffer.from(input), signer.key).toString("base64url")}`;
}

/** Samples this process's RSS until stopped; returns the peak growth over the starting value. */
export function rssSampler(): () => number {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage.rss());
    return peak - start;
  };
}

/** The bench's requester, with a token issued into the store (the last gate checks it still exists). */
export async function benchPrincipal(dataDir: string): Promise<Principal> {
  const subject = "user:bench@example.com";
  // Loaded here, so the benches that do not need the controller's store never load it.
  const { issueToken } = await import("../controller/identity/cli.js");
  const issued = await issueToken({ dataDir, env: {}, subject, groups: ["sre"], actor: "bench" });
  return { subject, groups: ["sre"], credential: { kind: "token", id: issued.id } };
}
