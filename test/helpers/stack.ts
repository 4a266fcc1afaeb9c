/**
 * One way for the tests to run keyhole as operators do: a workload, agents and controllers started
 * through the real executable (bin/keyhole.js) on loopback ports from port 0, with their flag lists
 * built in one place from typed options, and everything they leave (processes, files, whatever a
 * test registers with `onStop`) cleaned up by one `stop()`.
 *
 *   const stack = new Stack("e2e");
 *   beforeAll(() => stack.start({ workload: {}, agents: [{ id, environment: "staging" }], policy }));
 *   afterAll(async () => expect(await stack.stop()).toEqual([0, 0, 0]));
 *
 * Keys are generated with `keyhole keys generate` once per environment (under keys/<environment>/);
 * an agent trusts its environment's keys and a controller signs with all of them unless told
 * otherwise; the default inventory lists the agents the stack started.
 */

import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createEmptyReplayLog } from "../../agent/replay-log.js";
import { type CommandResult, runKeyhole } from "../../cli/demo/processes.js";
import { type LogLine, type StartedProcess, startChild } from "./child-process.js";
import { startWorkload, type Workload, type WorkloadOptions } from "./workload.js";

export type { LogLine, StartedProcess, Workload };

export const KEYHOLE_BIN = fileURLToPath(new URL("../../bin/keyhole.js", import.meta.url));
const LOOPBACK_ANY_PORT = "127.0.0.1:0";

/** `keyhole agent` flags. */
export interface AgentFlags {
  readonly id: string;
  readonly environment: string;
  /** The JWKS file the agent pins. */
  readonly trustedKeys: string;
  /** 127.0.0.1:0 unless told. */
  readonly listen?: string;
  readonly target?: number | string;
  readonly actions?: readonly string[];
  /** `k=v`, one `--label` each. */
  readonly labels?: readonly string[];
  /** The controller to enroll with, and the enrollment token (or a file holding it). */
  readonly controller?: string;
  readonly enrollToken?: string;
  readonly enrollTokenFile?: string;
  /** The NATS transport: the server to dial (no --listen then) and its credentials file. */
  readonly connect?: string;
  readonly natsCreds?: string;
}

/** `keyhole controller` flags. */
export interface ControllerFlags {
  readonly dataDir?: string;
  readonly id?: string;
  readonly database?: string;
  readonly policy?: string;
  readonly inventory?: string;
  /** Environment → PKCS#8 key file, one `--signing-key ENV=FILE` each. */
  readonly signingKeys?: Readonly<Record<string, string>>;
  /** 127.0.0.1:0 unless told. */
  readonly listen?: string;
  /** Any further flags, as written (e.g. `--s3-bucket`, `b`). */
  readonly flags?: readonly string[];
}

type FlagValue = string | number | readonly string[] | undefined;

/** `--flag value` pairs for the values that are set; a list is joined with commas. */
function pairs(flags: readonly (readonly [string, FlagValue])[]): string[] {
  return flags.flatMap(([flag, value]) =>
    value === undefined ? [] : [flag, Array.isArray(value) ? value.join(",") : String(value)],
  );
}

/** `KEYHOLE_<FLAG>` of `--flag`: every agent and controller flag also reads its variable. */
function variableOf(flag: string): string {
  return `KEYHOLE_${flag.slice(2).toUpperCase().replaceAll("-", "_")}`;
}

const AGENT_FLAGS = {
  id: "--id",
  environment: "--environment",
  trustedKeys: "--trusted-keys",
  listen: "--listen",
  target: "--target",
  actions: "--actions",
  controller: "--controller",
  enrollToken: "--enroll-token",
  enrollTokenFile: "--enroll-token-file",
  connect: "--connect",
  natsCreds: "--nats-creds",
} as const satisfies Record<Exclude<keyof AgentFlags, "labels">, string>;

/** The agent's flags that can also come from its environment (repeatable ones cannot). */
export type AgentVariable = keyof typeof AGENT_FLAGS;

/**
 * `keyhole agent …` as argv, and as variables for the flags named in `viaEnv` (how an operator
 * configures a container).
 */
export function agentCommand(
  flags: AgentFlags,
  viaEnv: readonly AgentVariable[] = [],
): { args: string[]; env: Record<string, string> } {
  // An agent on NATS listens nowhere: no --listen unless the test gives one.
  const values = { ...flags, listen: flags.listen ?? (flags.connect ? undefined : LOOPBACK_ANY_PORT) };
  const env: Record<string, string> = {};
  const argv: [string, FlagValue][] = [];
  for (const [key, flag] of Object.entries(AGENT_FLAGS) as [AgentVariable, string][]) {
    const value = values[key];
    if (value !== undefined && viaEnv.includes(key)) env[variableOf(flag)] = pairs([[flag, value]])[1]!;
    else argv.push([flag, value]);
  }
  for (const label of flags.labels ?? []) argv.push(["--label", label]);
  return { args: ["agent", ...pairs(argv)], env };
}

/** `keyhole agent …` as argv. */
export function agentArgs(flags: AgentFlags): string[] {
  return agentCommand(flags).args;
}

/** The loopback networks a controller of the stack lets enrolled agents use. */
export const LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128";

/** `keyhole controller …` as argv. */
export function controllerArgs(flags: ControllerFlags): string[] {
  return [
    "controller",
    ...pairs([
      ["--data-dir", flags.dataDir],
      ["--id", flags.id],
      ["--database", flags.database],
      ["--policy", flags.policy],
      ["--inventory", flags.inventory],
      ...Object.entries(flags.signingKeys ?? {}).map(
        ([environment, file]) => ["--signing-key", `${environment}=${file}`] as const,
      ),
      ["--listen", flags.listen ?? LOOPBACK_ANY_PORT],
    ]),
    // Agents here enroll from loopback: each environment's allow-list names it (issue 23, finding 4),
    // unless the test sets its own.
    ...(flags.flags?.includes("--agent-networks")
      ? []
      : Object.keys(flags.signingKeys ?? {}).flatMap((environment) => [
          "--agent-networks",
          `${environment}=${LOOPBACK_NETWORKS}`,
        ])),
    ...(flags.flags ?? []),
  ];
}

/** A port nobody listens on right now, for a process whose URL must be known before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

export interface KeyFiles {
  readonly dir: string;
  /** The public keys, for agents to pin. */
  readonly jwks: string;
  /** The private key, for the controller. */
  readonly signingKey: string;
}

interface ProcessOptions {
  /** Variables beside PATH. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Names it in failures and its log file (`<name>.log` in the stack's folder). */
  readonly name?: string;
  readonly timeoutMs?: number;
}

export interface AgentOptions extends Omit<AgentFlags, "trustedKeys">, ProcessOptions {
  /** The stack's keys of the agent's environment unless told. */
  readonly trustedKeys?: string;
  /** The stack's workload unless told. */
  readonly target?: number | string;
  /** Flags to pass as KEYHOLE_* variables instead of argv. */
  readonly viaEnv?: readonly AgentVariable[];
  /**
   * Start over a state dir without a replay log, as in a new pod: the agent then refuses every
   * envelope issued within 30 s of its start (agent/replay-log.ts, part 3). Otherwise the state
   * dir (`KEYHOLE_STATE_DIR` in `env`, else state/<id> in the stack's folder) gets an empty log
   * if it has none, as a container restart finds it: the stack's keys are new, so no earlier run
   * can have accepted an envelope they signed.
   */
  readonly freshStateDir?: boolean;
}

export interface ControllerOptions extends ControllerFlags, ProcessOptions {
  /** The stack's folder unless told (unless a database is). */
  readonly dataDir?: string;
  /** Every key the stack generated unless told. */
  readonly signingKeys?: Readonly<Record<string, string>>;
}

export interface StackOptions {
  /** The workload's variables (beside PATH and PORT=0). */
  readonly workload?: Readonly<Record<string, string>>;
  /** Started together, after the workload. */
  readonly agents?: readonly AgentOptions[];
  /** The policy YAML, written to policy.yaml for the controller. */
  readonly policy?: string;
  /** The controller, started last; its inventory lists the stack's agents unless told. */
  readonly controller?: ControllerOptions;
  /** Tokens to issue into the controller's store before it starts, by the name `as()` takes. */
  readonly tokens?: Readonly<
    Record<string, { readonly subject: string; readonly groups: readonly string[] }>
  >;
}

export interface IssuedToken {
  readonly token: string;
  readonly id: string;
}

const isListening = (line: LogLine) => line.msg === "listening";
const isEnrolled = (line: LogLine) => line.msg === "enrolled";
const isConnected = (line: LogLine) => line.msg === "connected";

/** Processes, keys and files of one test file, under one temp folder, stopped and removed together. */
export class Stack {
  readonly #prefix: string;
  #dir: string | undefined;
  readonly #processes: StartedProcess[] = [];
  readonly #keys = new Map<string, Promise<KeyFiles>>();
  readonly #cleanups: (() => unknown)[] = [];
  readonly #names = new Map<string, number>();
  readonly #environments = new WeakMap<StartedProcess, string>();
  readonly #onNats = new WeakSet<StartedProcess>();
  readonly tokens: Record<string, IssuedToken> = {};
  workload: Workload | undefined;
  /** The controller started last. */
  controller: StartedProcess | undefined;
  readonly agents: StartedProcess[] = [];

  /** `name` goes into the temp folder's name. */
  constructor(name: string) {
    this.#prefix = `keyhole-${name}-`;
  }

  /** The stack's folder, created on first use (again after `stop()`). */
  get dir(): string {
    this.#dir ??= mkdtempSync(join(tmpdir(), this.#prefix));
    return this.#dir;
  }

  /** A path in the stack's folder. */
  path(...segments: string[]): string {
    return join(this.dir, ...segments);
  }

  /** Writes `text` to a file in the stack's folder and returns its path. */
  write(name: string, text: string): string {
    const file = this.path(name);
    writeFileSync(file, text);
    return file;
  }

  /** The controller's URL. */
  get url(): string {
    if (!this.controller) throw new Error("the stack has no controller");
    return this.controller.url;
  }

  /** The agent with this id. */
  agent(id: string): StartedProcess {
    const agent = this.agents.find((a) => a.name === id);
    if (!agent) throw new Error(`the stack has no agent ${id}`);
    return agent;
  }

  /** The workload, agents (together), then the controller, as `options` says. */
  async start(options: StackOptions): Promise<this> {
    if (options.workload) await this.startWorkload(options.workload);
    await Promise.all((options.agents ?? []).map((agent) => this.startAgent(agent)));
    if (options.controller) {
      const { database, dataDir } = options.controller;
      const store = database ? ["--database", database] : ["--data-dir", dataDir ?? this.dir];
      for (const [name, { subject, groups }] of Object.entries(options.tokens ?? {})) {
        await this.issueToken(name, subject, groups, store);
      }
      await this.startController({
        policy: options.policy === undefined ? undefined : this.write("policy.yaml", options.policy),
        inventory: this.agents.length > 0 ? this.writeInventory() : undefined,
        ...options.controller,
      });
    }
    return this;
  }

  /** The workload (the sample one unless told), with `env` beside PATH and PORT=0. */
  async startWorkload(env: Record<string, string> = {}, options: WorkloadOptions = {}): Promise<Workload> {
    const name = this.#unique(options.name ?? "workload");
    const workload = await startWorkload(env, { ...options, name, logFile: this.#logFile(name) });
    this.#processes.push(workload);
    this.workload ??= workload;
    return workload;
  }

  /** `keyhole keys generate --environment E` into keys/E/, once per environment. */
  keys(environment: string): Promise<KeyFiles> {
    let keys = this.#keys.get(environment);
    if (!keys) {
      const dir = this.path("keys", environment);
      keys = this.#run(["keys", "generate", "--out", dir, "--environment", environment, "--json"]).then(
        () => ({
          dir,
          jwks: join(dir, "jwks.json"),
          signingKey: join(dir, "signing-key.pem"),
        }),
      );
      this.#keys.set(environment, keys);
    }
    return keys;
  }

  async startAgent(options: AgentOptions): Promise<StartedProcess> {
    const { env, name, timeoutMs, viaEnv, freshStateDir, ...flags } = options;
    const stateDir = env?.KEYHOLE_STATE_DIR ?? this.path("state", flags.id.replaceAll("/", "_"));
    if (!freshStateDir) createEmptyReplayLog(stateDir, flags.id);
    const command = agentCommand(
      {
        ...flags,
        trustedKeys: flags.trustedKeys ?? (await this.keys(flags.environment)).jwks,
        target: flags.target ?? this.workload?.pid,
      },
      viaEnv,
    );
    const agent = await this.#startKeyhole(name ?? flags.id, command.args, {
      env: { KEYHOLE_STATE_DIR: stateDir, ...command.env, ...env },
      timeoutMs,
      // An enrolling agent is ready once the controller has taken it in; one on NATS once subscribed.
      isReady:
        flags.enrollToken || flags.enrollTokenFile ? isEnrolled : flags.connect ? isConnected : isListening,
    });
    this.#environments.set(agent, flags.environment);
    if (flags.connect) this.#onNats.add(agent);
    this.agents.push(agent);
    return agent;
  }

  async startController(options: ControllerOptions = {}): Promise<StartedProcess> {
    const { env, name, timeoutMs, ...flags } = options;
    const signingKeys = flags.signingKeys ?? (await this.#signingKeys());
    const dataDir = flags.dataDir ?? (flags.database ? undefined : this.dir);
    const controller = await this.#startKeyhole(
      name ?? "controller",
      controllerArgs({ ...flags, dataDir, signingKeys }),
      { env, timeoutMs, isReady: isListening },
    );
    this.controller = controller;
    return controller;
  }

  /**
   * An inventory of the agents the stack started (id, environment, URL or `transport: nats`),
   * written to inventory.yaml.
   */
  writeInventory(): string {
    return this.write(
      "inventory.yaml",
      this.agents
        .map(
          (a) =>
            `- { id: ${a.name}, environment: ${this.#environments.get(a)}, ${this.#onNats.has(a) ? "transport: nats" : `url: "${a.url}"`} }\n`,
        )
        .join(""),
    );
  }

  /**
   * `keyhole token issue` for `subject` into `store` (`--data-dir D` or `--database URL`; the
   * stack's folder unless told); `as(name)` then presents it.
   */
  async issueToken(
    name: string,
    subject: string,
    groups: readonly string[],
    store: readonly string[] = ["--data-dir", this.dir],
  ): Promise<IssuedToken> {
    const out = await this.#run([
      "token",
      "issue",
      "--subject",
      subject,
      ...(groups.length > 0 ? ["--groups", groups.join(",")] : []),
      ...store,
      "--json",
    ]);
    const { token, id } = JSON.parse(out.stdout);
    this.tokens[name] = { token, id };
    return this.tokens[name];
  }

  /** The variables that point the CLI at the controller as `name`. */
  as(name: string): Record<string, string> {
    const issued = this.tokens[name];
    if (!issued) throw new Error(`no token issued for ${name}`);
    return { KEYHOLE_URL: this.url, KEYHOLE_TOKEN: issued.token };
  }

  /** Runs `keyhole …args` to completion with PATH and `env`. */
  keyhole(
    args: readonly string[],
    env: Readonly<Record<string, string | undefined>> = {},
    timeoutMs = 30_000,
  ) {
    return runKeyhole(args, { PATH: process.env.PATH, ...env }, timeoutMs);
  }

  /** Runs `cleanup` in `stop()`, after the processes have stopped (last registered, first run). */
  onStop(cleanup: () => unknown): void {
    this.#cleanups.push(cleanup);
  }

  /**
   * Stops every process still running (SIGTERM, SIGKILL after `graceMs`; at once with 0), runs the
   * cleanups, removes the folder; resolves with the processes' exit codes in start order.
   */
  async stop(graceMs = 5000): Promise<(number | null)[]> {
    const processes = this.#processes.splice(0);
    const codes = await Promise.all(processes.map((p) => p.stop(graceMs)));
    const errors: unknown[] = [];
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        errors.push(err);
      }
    }
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
    this.#keys.clear();
    this.#names.clear();
    this.agents.length = 0;
    this.workload = undefined;
    this.controller = undefined;
    for (const name of Object.keys(this.tokens)) delete this.tokens[name];
    if (errors.length > 0) throw new AggregateError(errors, "the stack's cleanups failed");
    return codes;
  }

  async #signingKeys(): Promise<Record<string, string>> {
    const entries = await Promise.all(
      [...this.#keys].map(async ([environment, keys]) => [environment, (await keys).signingKey] as const),
    );
    return Object.fromEntries(entries);
  }

  async #startKeyhole(
    name: string,
    args: readonly string[],
    options: Omit<ProcessOptions, "name"> & { readonly isReady: (line: LogLine) => boolean },
  ): Promise<StartedProcess> {
    const unique = this.#unique(name);
    const started = await startChild({
      name: unique,
      args: [KEYHOLE_BIN, ...args],
      env: options.env,
      logFile: this.#logFile(unique),
      isReady: options.isReady,
      timeoutMs: options.timeoutMs,
    });
    this.#processes.push(started);
    return started;
  }

  /** Runs `keyhole …args` and throws, with its stderr, unless it exits 0. */
  async #run(args: readonly string[]): Promise<CommandResult> {
    const result = await this.keyhole(args);
    if (result.code !== 0) {
      throw new Error(`keyhole ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
    }
    return result;
  }

  #unique(name: string): string {
    const seen = (this.#names.get(name) ?? 0) + 1;
    this.#names.set(name, seen);
    return seen === 1 ? name : `${name}-${seen}`;
  }

  #logFile(name: string): string {
    mkdirSync(this.dir, { recursive: true });
    return this.path(`${name.replaceAll("/", "_")}.log`);
  }
}
