/**
 * A HotSpot attach client with no JDK: the protocol `jcmd` speaks, over the JVM's own UNIX socket.
 *
 * Opening, in this order, each refusal a coded error that sent nothing:
 * 1. the target's effective uid and gid are the agent's (HotSpot serves only its own uid; the agent
 *    does not use root's reach into another user's JVM either) → KH_TARGET_UNSUPPORTED;
 * 2. the JVM did not turn attach off (`sun.rt.jvmCapabilities` in its perf data file, else
 *    -XX:+DisableAttachMechanism on its command line or in JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS,
 *    _JAVA_OPTIONS) → KH_TARGET_UNSUPPORTED;
 * 3. a listener already open (`/proc/<pid>/root/tmp/.java_pid<nspid>`, a socket owned by the
 *    target's uid) is used as it is;
 * 4. otherwise the process must catch SIGQUIT (its SigCgt bit: SIGQUIT's default action kills a
 *    process, or dumps its core) → else KH_TARGET_UNSUPPORTED; then `.attach_pid<nspid>` is created
 *    in its working directory (`/proc/<pid>/cwd`; its /tmp when the cwd is not writable), SIGQUIT
 *    is sent, and the socket is awaited (bounded). The attach file is removed as soon as the socket
 *    is there, and again on release whatever happened.
 *
 * Each command is one connection: `1\0jcmd\0<line>\0\0\0` out; a status line and the output back.
 * Only a JcmdCommand built by jcmd-commands.ts is accepted. The listener HotSpot starts stays open
 * for the JVM's lifetime (as after `jcmd`); it answers only its own uid.
 */

import { lstatSync, unlinkSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import { AgentError } from "../../errors.js";
import { readEnviron } from "../../proc/environ.js";
import { readProcRecord } from "../../proc/proc-read.js";
import { readCmdline, signalCaught } from "../../proc/process-facts.js";
import { signalTarget } from "../../proc/signal-target.js";
import { pollUntil } from "../node/wait.js";
import { isJcmdCommand, type JcmdCommand } from "./jcmd-commands.js";
import { readPerfAttach } from "./perf-data.js";

export interface AttachOptions {
  readonly procRoot?: string;
  /** How long the JVM may take to open its socket after SIGQUIT. */
  readonly openTimeoutMs?: number;
  /** The most output one command may return (a thread dump of thousands of threads is MBs). */
  readonly maxReplyBytes?: number;
}

const DEFAULTS = { openTimeoutMs: 10_000, maxReplyBytes: 64 * 1024 * 1024 } as const;
const SIGQUIT = 3;
/** The variables the JVM launcher reads options from. */
const OPTION_VARIABLES = new Set(["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"]);

/** The identity of the target as /proc/<pid>/status shows it. */
export interface TargetStatus {
  readonly euid: number;
  readonly egid: number;
  /** The pid inside the target's own namespace (the last NSpid field): HotSpot names its files by it. */
  readonly nspid: number;
  readonly catchesQuit: boolean;
}

export function parseTargetStatus(text: string, pid: number): TargetStatus {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim().split(/\s+/);
  const uids = field("Uid");
  const gids = field("Gid");
  const nspids = field("NSpid");
  return {
    euid: Number(uids?.[1] ?? Number.NaN),
    egid: Number(gids?.[1] ?? Number.NaN),
    nspid: nspids && nspids.length > 0 ? Number(nspids.at(-1)) : pid,
    catchesQuit: signalCaught(text, SIGQUIT),
  };
}

/** A status line and the output of one command. */
export interface JcmdReply {
  readonly status: number;
  readonly output: string;
}

function unsupported(pid: number, why: string): AgentError {
  return new AgentError("KH_TARGET_UNSUPPORTED", `process ${pid} cannot be attached: ${why}`);
}

/** Whether a JVM option list (command line or an options variable) turns attach off. */
function disablesAttach(options: readonly string[]): boolean {
  let disabled = false;
  for (const option of options) {
    if (option === "-XX:+DisableAttachMechanism") disabled = true;
    else if (option === "-XX:-DisableAttachMechanism") disabled = false;
  }
  return disabled;
}

/** An attach session with one JVM; open() refuses or signals, run() sends commands, release() cleans. */
export class AttachSession {
  private readonly options: Required<Omit<AttachOptions, "procRoot">> & { procRoot: string };
  private attachFile: string | undefined;
  private socketPath = "";
  private released = false;
  private readonly sockets = new Set<Socket>();
  /** True when the agent sent SIGQUIT (the listener was not open yet). */
  signalled = false;

  private constructor(
    readonly pid: number,
    private readonly log: FastifyBaseLogger,
    options: AttachOptions,
  ) {
    this.options = { ...DEFAULTS, procRoot: "/proc", ...options };
  }

  /** Checks, and if needed starts, the target's attach listener; releases what it set up on failure. */
  static async open(
    pid: number,
    log: FastifyBaseLogger,
    signal: AbortSignal,
    options: AttachOptions = {},
  ): Promise<AttachSession> {
    const session = new AttachSession(pid, log, options);
    try {
      await session.setup(signal);
      return session;
    } catch (err) {
      session.release();
      if (signal.aborted) throw signal.reason;
      throw err;
    }
  }

  private async setup(signal: AbortSignal): Promise<void> {
    const { procRoot } = this.options;
    const status = parseTargetStatus(readProcRecord(procRoot, this.pid, "status"), this.pid);
    const euid = process.geteuid?.() ?? -1;
    const egid = process.getegid?.() ?? -1;
    if (status.euid !== euid || status.egid !== egid) {
      throw unsupported(
        this.pid,
        `it runs as uid ${status.euid} gid ${status.egid} and the agent as uid ${euid} gid ${egid}; a JVM serves attach only to its own uid, so run the agent as the target's uid`,
      );
    }
    const perf = readPerfAttach(this.pid, status.nspid, procRoot);
    if (perf.found && !perf.attachable) {
      throw unsupported(this.pid, "the JVM runs with -XX:+DisableAttachMechanism (its perf data says so)");
    }
    if (!perf.found) {
      const cmdline = readCmdline(this.pid, { procRoot });
      const fromEnv = readEnviron(this.pid, { procRoot })
        .filter(([name]) => OPTION_VARIABLES.has(name))
        .flatMap(([, value]) => value.split(/\s+/));
      if (disablesAttach([...fromEnv, ...cmdline])) {
        throw unsupported(this.pid, "the JVM runs with -XX:+DisableAttachMechanism");
      }
    }

    this.socketPath = `${procRoot}/${this.pid}/root/tmp/.java_pid${status.nspid}`;
    if (this.listenerReady(status.euid)) return;

    // SIGQUIT's default action terminates the process (with a core dump): only a process that
    // handles it is signalled. A JVM does, unless started with -Xrs.
    if (!status.catchesQuit) {
      throw unsupported(
        this.pid,
        "it does not handle SIGQUIT (not a JVM, or a JVM started with -Xrs), and the agent does not send a signal that would terminate it",
      );
    }
    this.attachFile = this.createAttachFile(status.nspid);
    signalTarget(this.pid, "SIGQUIT");
    this.signalled = true;
    this.log.info({ pid: this.pid }, "starting the JVM's attach listener (SIGQUIT)");
    const ready = await pollUntil(
      () => (this.listenerReady(status.euid) ? true : undefined),
      this.options.openTimeoutMs,
      signal,
    );
    this.removeAttachFile();
    if (!ready) {
      throw unsupported(
        this.pid,
        `the JVM did not open its attach socket within ${this.options.openTimeoutMs} ms of SIGQUIT (attach disabled, or /tmp not writable in the target)`,
      );
    }
  }

  /** The socket exists, is a socket, and belongs to the target's uid. */
  private listenerReady(uid: number): boolean {
    try {
      const st = lstatSync(this.socketPath);
      return st.isSocket() && st.uid === uid;
    } catch {
      return false;
    }
  }

  /** `.attach_pid<nspid>` in the target's cwd, else in its /tmp; created exclusively, mode 0600. */
  private createAttachFile(nspid: number): string {
    const { procRoot } = this.options;
    const candidates = [
      `${procRoot}/${this.pid}/cwd/.attach_pid${nspid}`,
      `${procRoot}/${this.pid}/root/tmp/.attach_pid${nspid}`,
    ];
    let last: unknown;
    for (const path of candidates) {
      try {
        writeFileSync(path, "", { flag: "wx", mode: 0o600 });
        return path;
      } catch (err) {
        // Someone else's trigger (a jcmd in flight): it serves us too, but it is not ours to delete.
        if ((err as NodeJS.ErrnoException).code === "EEXIST") return "";
        last = err;
      }
    }
    throw new AgentError(
      "KH_TARGET_UNSUPPORTED",
      `process ${this.pid} cannot be attached: neither its working directory nor its /tmp is writable for the attach file`,
      { cause: last },
    );
  }

  private removeAttachFile(): void {
    const file = this.attachFile;
    if (!file) return;
    try {
      unlinkSync(file);
      this.attachFile = undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") this.attachFile = undefined;
      else this.log.error({ err, pid: this.pid, file }, "cannot remove the attach file from the target");
    }
  }

  /**
   * Runs one command. Resolves with the JVM's status and output; a non-zero status is returned,
   * not thrown (runOk throws). Rejects when `signal` aborts (the connection is closed; the JVM
   * finishes the command on its own). A `detached` command's connection outlives release(): the
   * heap dump's caller waits for the JVM's answer to delete the file it wrote, whatever happened.
   */
  run(command: JcmdCommand, signal: AbortSignal, { detached = false } = {}): Promise<JcmdReply> {
    if (!isJcmdCommand(command)) throw new Error("only commands from jcmd-commands.ts are sent to a JVM");
    if (this.released) throw new Error("the attach session is released");
    signal.throwIfAborted();
    const { maxReplyBytes } = this.options;
    return new Promise<JcmdReply>((resolve, reject) => {
      const socket = connect({ path: this.socketPath });
      if (!detached) this.sockets.add(socket);
      const chunks: Buffer[] = [];
      let bytes = 0;
      const finish = (err?: unknown) => {
        signal.removeEventListener("abort", onAbort);
        this.sockets.delete(socket);
        socket.destroy();
        if (err) reject(err);
      };
      const onAbort = () => finish(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      socket.on("connect", () => socket.end(`1\0jcmd\0${command.line}\0\0\0`));
      socket.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxReplyBytes) {
          finish(
            new AgentError("KH_ACTION_FAILED", `${command.name} answered more than ${maxReplyBytes} bytes`),
          );
          return;
        }
        chunks.push(chunk);
      });
      socket.on("error", (err) =>
        finish(
          new AgentError("KH_ACTION_FAILED", `the attach connection to process ${this.pid} failed`, {
            cause: err,
          }),
        ),
      );
      socket.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        finish();
        const nl = text.indexOf("\n");
        const status = Number.parseInt(nl < 0 ? text : text.slice(0, nl), 10);
        if (!Number.isFinite(status)) {
          reject(
            new AgentError(
              "KH_ACTION_FAILED",
              `process ${this.pid} answered ${command.name} without a status`,
            ),
          );
          return;
        }
        resolve({ status, output: nl < 0 ? "" : text.slice(nl + 1) });
      });
    });
  }

  /** Runs one command and throws KH_ACTION_FAILED with the JVM's first line when it fails. */
  async runOk(command: JcmdCommand, signal: AbortSignal): Promise<string> {
    const reply = await this.run(command, signal);
    // A failed diagnostic command answers a non-zero status; some (GC.heap_dump) answer 0 with
    // an error text, which callers check themselves.
    if (reply.status !== 0) {
      const first = reply.output.split("\n", 1)[0]!.slice(0, 300);
      throw new AgentError("KH_ACTION_FAILED", `the JVM refused ${command.name}: ${first}`);
    }
    return reply.output;
  }

  /** Closes any connection and removes the attach file if it is still there. Idempotent; never throws. */
  release(): void {
    this.released = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.removeAttachFile();
  }
}
