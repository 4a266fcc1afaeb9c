/**
 * How the controller connects to agents over TLS, in one place (SPEC §8): `--agent-ca` is the only
 * CA an agent's certificate may chain to (instead of the system's roots), and `--client-cert` /
 * `--client-key` are presented for mutual TLS. Every connection to an agent (inline answers,
 * streams, the s3 mode's upload report, collections) goes through controller/dispatch/post-envelope.ts,
 * which takes its HTTPS agent from here. A rotated file is read again (common/tls-files.ts) and the
 * next request handshakes under it.
 */
import { Agent as HttpsAgent } from "node:https";
import { readTlsFiles, type TlsFilePaths, TlsFileWatcher, type TlsMaterial } from "../../common/tls-files.js";

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class AgentTls {
  private current: HttpsAgent;
  private readonly watcher: TlsFileWatcher;

  private constructor(paths: TlsFilePaths, material: TlsMaterial, reloadMs: number, log: Log) {
    this.current = AgentTls.agentOf(material);
    this.watcher = new TlsFileWatcher(paths, {
      intervalMs: reloadMs,
      what: "the TLS files for agents (--agent-ca, --client-cert, --client-key)",
      log,
      apply: (next) => {
        const previous = this.current;
        this.current = AgentTls.agentOf(next);
        // Its idle kept-alive sockets were verified under the old CA: closed, so no request reuses
        // them; sockets in use finish their request and are then dropped with the old agent.
        for (const sockets of Object.values(previous.freeSockets)) for (const s of sockets ?? []) s.destroy();
      },
    });
  }

  /**
   * Reads the files (throws, naming the file, when one cannot be read or the key does not fit the
   * certificate); undefined when none is configured: agents' HTTPS is then checked against the
   * system's roots, and no client certificate is presented.
   */
  static open(paths: TlsFilePaths, options: { reloadMs: number; log: Log }): AgentTls | undefined {
    if (paths.ca === undefined && paths.cert === undefined) return undefined;
    return new AgentTls(paths, readTlsFiles(paths), options.reloadMs, options.log);
  }

  /** The HTTPS agent for the next connection to an agent. */
  get agent(): HttpsAgent {
    return this.current;
  }

  /** Checks the files now (tests; otherwise every reload interval). */
  reloadNow(): boolean {
    return this.watcher.check();
  }

  close(): void {
    this.watcher.close();
  }

  private static agentOf(material: TlsMaterial): HttpsAgent {
    return new HttpsAgent({
      keepAlive: true,
      ...(material.ca ? { ca: material.ca } : {}),
      ...(material.cert ? { cert: material.cert, key: material.key } : {}),
      // The host name in the agent's URL must be in its certificate (Node's default check).
      rejectUnauthorized: true,
    });
  }
}
