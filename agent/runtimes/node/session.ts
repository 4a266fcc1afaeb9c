/**
 * One inspector session with a Node target, acquired and released in a pair.
 *
 * Opening: the target's configured inspector address (inspect-port.ts); if the target already
 * listens there with an inspector, that one is used and left open afterwards (it was not ours).
 * Otherwise SIGUSR1 (never a shell), then a bounded poll for a new listening socket that the
 * target owns (its socket inodes, so another process's inspector is never used) and that answers
 * `/json/list`, then one WebSocket to it on loopback.
 *
 * Releasing, in every outcome and after a half-finished setup: an inspector we opened is closed
 * with the agent's fixed expression, and the port is checked until it stops listening; a failure
 * to close is logged at error level, because an open inspector is code execution for anyone in
 * the pod.
 */

import type { FastifyBaseLogger } from "fastify";
import { isLoopbackHost } from "../../../common/loopback.js";
import { AgentError } from "../../errors.js";
import { readEnviron } from "../../proc/environ.js";
import { catchesSignal, readCmdline } from "../../proc/process-facts.js";
import { signalTarget } from "../../proc/signal-target.js";
import { CdpClient } from "./cdp-client.js";
import { requestInspectorClose } from "./close-inspector.js";
import { inspectAddress } from "./inspect-port.js";
import { debuggerUrl, fetchInspectorTargets, type InspectorTarget } from "./inspector-http.js";
import { isListeningOn, type Listener, loopbackListeners } from "./listeners.js";
import { type InspectorMarkers, inspectorMarkers, type MarkerHandle } from "./open-markers.js";
import { pollUntil } from "./wait.js";

/** Timing of a session; every wait is bounded. */
export interface InspectorOptions {
  readonly procRoot?: string;
  /** How long the target may take to listen after SIGUSR1. */
  readonly openTimeoutMs?: number;
  /**
   * How long closing may take. Generous: a target serialising a heap snapshot answers nothing
   * until it is done, and a snapshot of a large heap takes tens of seconds.
   */
  readonly closeTimeoutMs?: number;
  /** How long the port may keep listening once the target agreed to close. */
  readonly closedCheckMs?: number;
  /** Where the sessions this agent opens are noted (default: the agent-wide markers). */
  readonly markers?: InspectorMarkers;
}

const DEFAULTS = { openTimeoutMs: 5_000, closeTimeoutMs: 120_000, closedCheckMs: 3_000 } as const;
/** One `/json/list` probe; a local inspector answers in a millisecond or two. */
const PROBE_TIMEOUT_MS = 500;

type Found = { listener: Listener; targets: InspectorTarget[] };

/** The first of `listeners` that answers like an inspector. */
async function probe(listeners: readonly Listener[]): Promise<Found | undefined> {
  const answers = await Promise.all(
    listeners.map(async (listener) => ({
      listener,
      targets: await fetchInspectorTargets(listener.dial, listener.port, PROBE_TIMEOUT_MS),
    })),
  );
  const hit = answers.find((a) => a.targets !== undefined);
  return hit ? { listener: hit.listener, targets: hit.targets! } : undefined;
}

function coded(err: unknown, what: string): AgentError {
  if (err instanceof AgentError) return err;
  return new AgentError("KH_ACTION_FAILED", `${what}: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  });
}

/** An open CDP session with the target's inspector. */
export class InspectorSession {
  private client_: CdpClient | undefined;
  private listener: Listener | undefined;
  private openedByUs_ = false;
  /** SIGUSR1 was sent: from then on release must look for an inspector to close. */
  private signalled = false;
  private before = new Set<number>();
  private wantedPort = 0;
  private releasing: Promise<void> | undefined;
  /** The marker noted before our signal; released (and removed once closed) in doRelease. */
  private marker: MarkerHandle | undefined;
  private readonly markers: InspectorMarkers;
  private readonly options: Required<Omit<InspectorOptions, "procRoot" | "markers">> & { procRoot: string };

  private constructor(
    readonly pid: number,
    private readonly log: FastifyBaseLogger,
    options: InspectorOptions,
  ) {
    const { markers, ...rest } = options;
    this.options = { ...DEFAULTS, procRoot: "/proc", ...rest };
    this.markers = markers ?? inspectorMarkers;
  }

  /**
   * Opens a session with `pid`'s inspector. On any failure (or abort) whatever was set up is
   * released before the coded error is thrown.
   */
  static async open(
    pid: number,
    log: FastifyBaseLogger,
    signal: AbortSignal,
    options: InspectorOptions = {},
  ): Promise<InspectorSession> {
    const session = new InspectorSession(pid, log, options);
    try {
      await session.setup(signal);
      return session;
    } catch (err) {
      await session.release();
      if (signal.aborted) throw signal.reason;
      throw coded(err, `cannot open the inspector of process ${pid}`);
    }
  }

  /** The CDP connection; only valid between open() and release(). */
  get client(): CdpClient {
    if (!this.client_) throw new Error("inspector session is not open");
    return this.client_;
  }

  /** True when the agent opened this inspector (and so closes it on release). */
  get openedByUs(): boolean {
    return this.openedByUs_;
  }

  /** The inspector's port. */
  get port(): number | undefined {
    return this.listener?.port;
  }

  private async setup(signal: AbortSignal): Promise<void> {
    const { procRoot } = this.options;
    const environ = readEnviron(this.pid, { procRoot });
    const nodeOptions = environ.findLast(([name]) => name === "NODE_OPTIONS")?.[1];
    const address = inspectAddress(readCmdline(this.pid, { procRoot }), nodeOptions);
    this.wantedPort = address.port;

    const before = loopbackListeners(this.pid, procRoot);
    // A fixed port: only that socket can be the inspector. Port 0: any of the target's sockets may
    // be an inspector it opened earlier, and only asking tells.
    const candidates = address.port === 0 ? before : before.filter((l) => l.port === address.port);
    const existing = await probe(candidates);
    signal.throwIfAborted();
    if (existing) {
      this.listener = existing.listener;
      await this.connect(existing.targets, signal);
      this.log.info(
        { pid: this.pid, port: existing.listener.port },
        "using the target's already open inspector",
      );
      return;
    }
    if (candidates.length > 0 && address.port !== 0) {
      throw new AgentError(
        "KH_ACTION_FAILED",
        `process ${this.pid} listens on its inspector port ${address.port} with something that is not an inspector`,
      );
    }
    if (address.host !== undefined && !isLoopbackHost(address.host)) {
      // SIGUSR1 would open the inspector on this host: code execution for whoever reaches it.
      throw new AgentError(
        "KH_ACTION_FAILED",
        `process ${this.pid} is configured to open its inspector on ${address.host}; the agent only opens inspectors on loopback`,
      );
    }

    // SIGUSR1's default action terminates a process: only a process that handles it (Node does,
    // to open its inspector) is signalled. Anything else is refused before any signal goes out.
    if (!catchesSignal(this.pid, "SIGUSR1", { procRoot })) {
      throw new AgentError(
        "KH_TARGET_UNSUPPORTED",
        `process ${this.pid} does not handle SIGUSR1, so it is not a Node process that can open its inspector; the agent does not signal it (SIGUSR1 would terminate it)`,
      );
    }
    this.before = new Set(before.map((l) => l.inode));
    // Noted before the signal: if the agent dies from here on, its next start closes what opened.
    this.marker = this.markers.note(
      this.pid,
      procRoot,
      { wantedPort: address.port, before: [...this.before] },
      this.log,
    );
    this.sendSignal();
    this.log.info({ pid: this.pid, port: address.port }, "opening the target's inspector (SIGUSR1)");
    const opened = await pollUntil(() => this.probeNew(), this.options.openTimeoutMs, signal);
    if (!opened) {
      throw new AgentError(
        "KH_ACTION_FAILED",
        `process ${this.pid} did not open an inspector within ${this.options.openTimeoutMs} ms of SIGUSR1 (not a Node process, or port ${address.port} taken?)`,
      );
    }
    this.listener = opened.listener;
    this.openedByUs_ = true;
    this.markers.update(this.marker, opened.listener.port, this.log);
    await this.connect(opened.targets, signal);
  }

  private sendSignal(): void {
    signalTarget(this.pid, "SIGUSR1");
    this.signalled = true;
  }

  /** A listening socket of the target that was not there before our signal and answers as an inspector. */
  private probeNew(): Promise<Found | undefined> {
    const fresh = loopbackListeners(this.pid, this.options.procRoot).filter(
      (l) => !this.before.has(l.inode) && (this.wantedPort === 0 || l.port === this.wantedPort),
    );
    return probe(fresh);
  }

  private async connect(targets: readonly InspectorTarget[], signal: AbortSignal): Promise<void> {
    const listener = this.listener!;
    const target = targets.find((t) => t.type === "node") ?? targets[0]!;
    const url = debuggerUrl(target, listener.dial, listener.port);
    this.client_ = await CdpClient.connect(url, this.options.openTimeoutMs, signal);
    // Narrows the window between the ownership check and the connection: the socket we dialled
    // must still be the target's.
    if (!loopbackListeners(this.pid, this.options.procRoot).some((l) => l.inode === listener.inode)) {
      throw new AgentError("KH_ACTION_FAILED", `the inspector socket of process ${this.pid} changed hands`);
    }
  }

  /** Ends the session; closes the inspector if we opened it. Idempotent; never throws. */
  release(): Promise<void> {
    this.releasing ??= this.doRelease();
    return this.releasing;
  }

  private async doRelease(): Promise<void> {
    const client = this.client_;
    // Whether no inspector of ours is left open: only then does the marker file go.
    let closed = !this.signalled;
    try {
      // Whatever is still queued (snapshot chunks of an abandoned stream) must drain for the
      // target to reach our closing command.
      client?.resume();
      // Only an inspector our signal opened is closed; one the target had open stays open.
      if (this.signalled) {
        if (client?.isOpen) closed = await this.closeThrough(client);
        else closed = await this.closeHalfOpened();
      }
    } catch (err) {
      this.log.error({ err, pid: this.pid }, "releasing the inspector session failed");
    } finally {
      client?.terminate();
      if (this.marker) this.markers.release(this.marker, closed, this.log);
    }
  }

  /** Resolves true once the inspector stopped listening. */
  private async closeThrough(client: CdpClient): Promise<boolean> {
    const port = this.listener!.port;
    const agreed = await requestInspectorClose(client, this.options.closeTimeoutMs);
    const gone = await pollUntil(
      () => (isListeningOn(this.pid, port, this.options.procRoot) ? undefined : true),
      this.options.closedCheckMs,
    ).catch(() => true); // the target exited: nothing is listening
    if (gone) {
      this.log.info({ pid: this.pid, port }, "closed the target's inspector");
      return true;
    }
    this.log.error(
      { pid: this.pid, port, agreed },
      "THE TARGET'S INSPECTOR IS STILL LISTENING after the agent asked it to close; close it by restarting the workload",
    );
    return false;
  }

  /**
   * Our signal went out but setup failed before connecting: find what it opened, and close that.
   * Resolves false when nothing was found: the marker stays, so a late inspector is closed at the
   * agent's next start.
   */
  private async closeHalfOpened(): Promise<boolean> {
    const found = await pollUntil(() => this.probeNew(), 1_000).catch(() => undefined);
    if (!found) {
      this.log.warn(
        { pid: this.pid, port: this.wantedPort },
        "sent SIGUSR1 but found no inspector to close; if the target opens one late, the agent's next start closes it",
      );
      return false;
    }
    this.listener = found.listener;
    const target = found.targets.find((t) => t.type === "node") ?? found.targets[0]!;
    const client = await CdpClient.connect(
      debuggerUrl(target, found.listener.dial, found.listener.port),
      this.options.openTimeoutMs,
    );
    try {
      return await this.closeThrough(client);
    } finally {
      client.terminate();
    }
  }
}

/**
 * Runs `fn` with an inspector session of `pid`, holding the target's lock, and releases both in
 * every outcome. `fn` should honour `signal` so that an abort ends it promptly.
 */
export async function withInspector<T>(
  pid: number,
  log: FastifyBaseLogger,
  signal: AbortSignal,
  lock: () => () => void,
  fn: (session: InspectorSession) => Promise<T>,
  options: InspectorOptions = {},
): Promise<T> {
  const unlock = lock();
  let session: InspectorSession | undefined;
  try {
    session = await InspectorSession.open(pid, log, signal, options);
    return await fn(session);
  } finally {
    await session?.release();
    unlock();
  }
}
