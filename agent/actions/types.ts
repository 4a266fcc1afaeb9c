import type { Readable } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import type * as z from "zod";
import type { Redactor } from "../redact/index.js";

/** What every action may use while it runs. Target readers never learn who asked or why. */
export interface ActionContext {
  /** The resolved target process. */
  readonly pid: number;
  /** The masking engine; every byte an action returns passes through it. */
  readonly redactor: Redactor;
  /** Aborted when the action times out or the client goes away. */
  readonly signal: AbortSignal;
  readonly log: FastifyBaseLogger;
  /** Where /proc and the cgroup hierarchy are mounted (fixtures in tests). */
  readonly procRoot: string;
  readonly cgroupRoot: string;
  /** What the heap-snapshot memory guard does when it cannot see the target's cgroup; default refuse. */
  readonly memoryGuardUnseen?: "refuse" | "allow";
  /** The most a bundle spools of one streamed entry (`--spool-max-mib`); default 768 MiB. */
  readonly spoolMaxBytes?: number;
  /** Where bundles spool; default the temp directory. */
  readonly spoolDir?: string;
  /** Reads the spool volume's free and total bytes (tests: a small volume); default statfs. */
  readonly spoolVolume?: (path: string) => Promise<{ free: number; total: number }>;
  /** The directories `--log-root` allows log-tail to read under; empty when none is configured. */
  readonly logRoots: readonly string[];
  /** The request's `jti` and this agent's id, for artifacts that name their origin (bundle manifests). */
  readonly requestId?: string;
  readonly agentId?: string;
  /**
   * How the request asked for the result (`s3` counts as stream); undefined inside a bundle (which
   * takes either) and in direct calls. An action whose format depends on the target (cpu-profile:
   * JSON or JFR) checks it.
   */
  readonly outputMode?: OutputMode;
  /** The actions enabled on this agent; a bundle may only contain these. */
  readonly enabledActions?: ReadonlySet<string>;
}

/** The cost bounds every action declares in its registry entry. */
export interface ActionLimits {
  readonly timeoutMs: number;
  /** How many runs of this action may be in flight at once on this agent. */
  readonly maxConcurrency: number;
  /** The largest result the agent will return: serialised JSON, or the bytes of a stream. */
  readonly maxOutputBytes: number;
}

/** How a result leaves the agent (the envelope's `output.mode`). */
export type OutputMode = "inline" | "stream";

/**
 * What a streaming action's `run` resolves to: bytes the agent pipes into the response as they
 * come (a heap snapshot is never held whole in memory). Destroying `stream` must release
 * everything the action holds (inspector sessions, file descriptors).
 */
export class StreamedResult {
  constructor(
    readonly stream: Readable,
    readonly contentType: string,
    /** A file name for the artifact, e.g. `heap-1234-20261126T120000Z.heapsnapshot`. */
    readonly filename: string,
  ) {}
}

/** One diagnostic action: a strict params schema, declared limits, and a read-only `run`. */
export interface ActionDefinition<P extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly params: P;
  readonly limits: ActionLimits;
  /**
   * The output modes it answers: `inline` actions resolve to a JSON value; `stream` actions to a
   * StreamedResult. An envelope asking for another mode is refused with KH_BAD_PARAMS.
   */
  readonly outputs: readonly OutputMode[];
  run(params: z.output<P>, ctx: ActionContext): Promise<unknown>;
}

/** Ties a definition's params type to its `run` at the definition site. */
export function defineAction<P extends z.ZodType>(def: ActionDefinition<P>): ActionDefinition<P> {
  return def;
}
