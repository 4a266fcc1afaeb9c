/**
 * Notes of the inspectors this agent opened, so that none is left open when the agent dies.
 *
 * An agent killed (SIGKILL, OOM) while it holds a session cannot close the inspector it opened,
 * and the next run would see an open inspector and take it for the target's own (which it leaves
 * open). So before its SIGUSR1 the agent writes a small marker file naming the target (pid and
 * start time, so a reused pid is never mistaken for it), the sockets the target already had and
 * the port it expects; once the inspector is confirmed closed the marker is removed. At start the
 * agent closes every inspector a dead agent's marker names (`closeLeftoverInspectors`).
 *
 * The marker directory is the agent's state dir (`KEYHOLE_STATE_DIR`): an emptyDir in Kubernetes,
 * which survives a container restart. The in-memory count of open sessions lets a draining agent
 * wait for its sessions to close before it exits.
 */
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyBaseLogger } from "fastify";
import * as z from "zod";
import { makePrivateDir } from "../../../common/private-dir.js";
import { readStat } from "../../proc/process-stat.js";
import { CdpClient } from "./cdp-client.js";
import { requestInspectorClose } from "./close-inspector.js";
import { debuggerUrl, fetchInspectorTargets } from "./inspector-http.js";
import { isListeningOn, loopbackListeners } from "./listeners.js";
import { inspectorLocks, type TargetLocks } from "./target-locks.js";
import { pollUntil } from "./wait.js";

const markerSchema = z.object({
  v: z.literal(1),
  /** The agent process that opened it, and its start time (clock ticks after boot). */
  agentPid: z.number().int(),
  agentStartTicks: z.number().int(),
  pid: z.number().int().positive(),
  startTicks: z.number().int(),
  /** The inspector port the target is configured for (0: random). */
  wantedPort: z.number().int().min(0).max(65535),
  /** The port it opened on, once known. */
  port: z.number().int().min(1).max(65535).optional(),
  /** Socket inodes the target listened on before the signal: none of them is the inspector. */
  before: z.array(z.number().int()).max(10_000),
  at: z.string(),
});
export type OpenMarker = z.infer<typeof markerSchema>;

/** One noted session; `update`/`clear` take it back. */
export interface MarkerHandle {
  readonly file: string | undefined;
  marker: OpenMarker;
}

function startTicksOf(pid: number, procRoot: string): number {
  try {
    return readStat(procRoot, pid).startTicks;
  } catch {
    return -1;
  }
}

export class InspectorMarkers {
  private dir: string | undefined;
  private readonly open = new Set<MarkerHandle>();
  private waiters: (() => void)[] = [];

  /** Sets (and creates, mode 0700) the directory markers are written to. */
  configure(dir: string): void {
    makePrivateDir(dir);
    this.dir = dir;
  }

  get directory(): string | undefined {
    return this.dir;
  }

  /** Sessions noted and not yet released, in this process. */
  get openCount(): number {
    return this.open.size;
  }

  /** Resolves once no session is open, or after `timeoutMs`; true when none is open. */
  whenNoneOpen(timeoutMs: number): Promise<boolean> {
    if (this.open.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.open.size === 0), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Writes the marker before the agent signals `pid`. Never throws: a marker is a safety net. */
  note(
    pid: number,
    procRoot: string,
    facts: { wantedPort: number; before: readonly number[] },
    log: FastifyBaseLogger,
  ): MarkerHandle {
    const marker: OpenMarker = {
      v: 1,
      agentPid: process.pid,
      agentStartTicks: startTicksOf(process.pid, "/proc"),
      pid,
      startTicks: startTicksOf(pid, procRoot),
      wantedPort: facts.wantedPort,
      before: [...facts.before],
      at: new Date().toISOString(),
    };
    const handle: MarkerHandle = {
      file: this.dir ? join(this.dir, `inspector-${pid}-${marker.startTicks}.json`) : undefined,
      marker,
    };
    this.open.add(handle);
    this.write(handle, log);
    return handle;
  }

  /** Records the port the inspector opened on. */
  update(handle: MarkerHandle, port: number, log: FastifyBaseLogger): void {
    handle.marker = { ...handle.marker, port };
    this.write(handle, log);
  }

  /**
   * The session is over. `closed`: the inspector is confirmed closed (or never opened), so the
   * marker file goes; otherwise it stays for the next start to retry.
   */
  release(handle: MarkerHandle, closed: boolean, log: FastifyBaseLogger): void {
    if (closed && handle.file) {
      try {
        rmSync(handle.file, { force: true });
      } catch (err) {
        log.warn({ err, file: handle.file }, "cannot remove the inspector marker");
      }
    }
    this.open.delete(handle);
    if (this.open.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** The markers on disk, with their file names; unreadable ones are reported as undefined. */
  list(): { file: string; marker: OpenMarker | undefined }[] {
    if (!this.dir) return [];
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => /^inspector-\d+--?\d+\.json$/.test(n));
    } catch {
      return [];
    }
    return names.map((name) => {
      const file = join(this.dir!, name);
      try {
        const parsed = markerSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
        return { file, marker: parsed.success ? parsed.data : undefined };
      } catch {
        return { file, marker: undefined };
      }
    });
  }

  private write(handle: MarkerHandle, log: FastifyBaseLogger): void {
    if (!handle.file) return;
    try {
      const tmp = `${handle.file}.tmp`;
      writeFileSync(tmp, JSON.stringify(handle.marker), { mode: 0o600 });
      renameSync(tmp, handle.file);
    } catch (err) {
      log.warn(
        { err, file: handle.file },
        "cannot write the inspector marker; if the agent dies now the inspector stays open",
      );
    }
  }
}

/** The agent-wide markers every inspector session shares (configured by `runAgent`). */
export const inspectorMarkers = new InspectorMarkers();

export interface LeftoverOutcome {
  readonly pid: number;
  readonly outcome:
    | "closed"
    | "none-open"
    | "target-gone"
    | "still-open"
    | "busy"
    | "owner-alive"
    | "unreadable";
}

/**
 * Closes every inspector that a marker of a dead agent names, and removes those markers. Markers
 * of a live agent (another agent sharing the directory) are left alone. Bounded by `closeTimeoutMs`
 * per inspector: a target serialising a snapshot answers only when it is done.
 */
export async function closeLeftoverInspectors(options: {
  readonly markers?: InspectorMarkers;
  readonly procRoot?: string;
  readonly log: FastifyBaseLogger;
  readonly locks?: TargetLocks;
  readonly closeTimeoutMs?: number;
}): Promise<LeftoverOutcome[]> {
  const markers = options.markers ?? inspectorMarkers;
  const procRoot = options.procRoot ?? "/proc";
  const locks = options.locks ?? inspectorLocks;
  const { log } = options;
  const outcomes: LeftoverOutcome[] = [];
  for (const { file, marker } of markers.list()) {
    if (!marker) {
      log.warn({ file }, "removing an unreadable inspector marker");
      rmSync(file, { force: true });
      outcomes.push({ pid: -1, outcome: "unreadable" });
      continue;
    }
    const ownerAlive =
      marker.agentPid !== process.pid && startTicksOf(marker.agentPid, "/proc") === marker.agentStartTicks;
    if (ownerAlive) {
      outcomes.push({ pid: marker.pid, outcome: "owner-alive" });
      continue;
    }
    if (startTicksOf(marker.pid, procRoot) !== marker.startTicks) {
      log.info({ pid: marker.pid }, "the target of a leftover inspector marker is gone");
      rmSync(file, { force: true });
      outcomes.push({ pid: marker.pid, outcome: "target-gone" });
      continue;
    }
    let unlock: () => void;
    try {
      unlock = locks.acquire(marker.pid, "inspector-recovery");
    } catch {
      outcomes.push({ pid: marker.pid, outcome: "busy" });
      continue;
    }
    try {
      outcomes.push({ pid: marker.pid, outcome: await closeOne(file, marker, procRoot, log, options) });
    } finally {
      unlock();
    }
  }
  return outcomes;
}

async function closeOne(
  file: string,
  marker: OpenMarker,
  procRoot: string,
  log: FastifyBaseLogger,
  options: { closeTimeoutMs?: number },
): Promise<LeftoverOutcome["outcome"]> {
  const before = new Set(marker.before);
  const candidates = loopbackListeners(marker.pid, procRoot).filter((l) =>
    marker.port !== undefined
      ? l.port === marker.port
      : !before.has(l.inode) && (marker.wantedPort === 0 || l.port === marker.wantedPort),
  );
  for (const listener of candidates) {
    const targets = await fetchInspectorTargets(listener.dial, listener.port, 1000);
    if (!targets) continue;
    const target = targets.find((t) => t.type === "node") ?? targets[0]!;
    const client = await CdpClient.connect(debuggerUrl(target, listener.dial, listener.port), 5000);
    try {
      await requestInspectorClose(client, options.closeTimeoutMs ?? 120_000);
    } finally {
      client.terminate();
    }
    const gone = await pollUntil(
      () => (isListeningOn(marker.pid, listener.port, procRoot) ? undefined : true),
      3000,
    ).catch(() => true);
    if (!gone) {
      log.error(
        { pid: marker.pid, port: listener.port },
        "THE INSPECTOR A PREVIOUS AGENT RUN OPENED IS STILL LISTENING; close it by restarting the workload",
      );
      return "still-open";
    }
    log.warn(
      { pid: marker.pid, port: listener.port, openedAt: marker.at },
      "closed an inspector that a previous agent run opened and could not close",
    );
    rmSync(file, { force: true });
    return "closed";
  }
  rmSync(file, { force: true });
  return "none-open";
}
