/**
 * A real `nats-server` (the machine's) on a free loopback port, for tests that need their own
 * settings (permissions, a restart): started from a configuration file with `$VARIABLES` taken
 * from the environment, ready once it says so, restartable on the same port, stopped by the test.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { freePort } from "./stack.js";

export interface NatsServerOptions {
  /** A nats-server configuration file; none means an open server. */
  readonly config?: string;
  /** Variables the configuration refers to (`$CONTROLLER_NKEY`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Fixed port (a restart keeps it); a free one unless told. */
  readonly port?: number;
}

export class NatsServer {
  #child: ChildProcess | undefined;
  #stderr = "";

  private constructor(
    readonly port: number,
    private readonly options: NatsServerOptions,
  ) {}

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options.port ?? (await freePort()), options);
    await server.start();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** What the server wrote (its log), for failures and for checks of what it refused. */
  get log(): string {
    return this.#stderr;
  }

  /** Starts the server (again, after stop()), resolving once it accepts clients. */
  async start(): Promise<void> {
    if (this.#child) throw new Error("nats-server is running");
    const args = [
      ...(this.options.config ? ["-c", this.options.config] : []),
      "-a",
      "127.0.0.1",
      "-p",
      String(this.port),
    ];
    const child = spawn("nats-server", args, {
      env: { PATH: process.env.PATH, ...this.options.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.#child = child;
    let seen = "";
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server did not start within 10 s:\n${seen}`)),
        10_000,
      );
      child.stderr!.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        this.#stderr += chunk.toString();
        if (seen.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited ${code} before it was ready:\n${seen}`));
      });
    });
    try {
      await ready;
    } catch (err) {
      this.#child = undefined;
      throw err;
    }
  }

  /** Stops the server (SIGKILL with `hard`, as a crash); the port is free again afterwards. */
  async stop(hard = false): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill(hard ? "SIGKILL" : "SIGTERM");
      await exited;
    }
  }
}
