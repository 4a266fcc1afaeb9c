import type { FastifyBaseLogger } from "fastify";
import type { z } from "zod";
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
}

/** The cost bounds every action declares in its registry entry. */
export interface ActionLimits {
  readonly timeoutMs: number;
  /** How many runs of this action may be in flight at once on this agent. */
  readonly maxConcurrency: number;
  /** The largest serialised result the agent will return. */
  readonly maxOutputBytes: number;
}

/** One diagnostic action: a strict params schema, declared limits, and a read-only `run`. */
export interface ActionDefinition<P extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly params: P;
  readonly limits: ActionLimits;
  run(params: z.output<P>, ctx: ActionContext): Promise<unknown>;
}

/** Ties a definition's params type to its `run` at the definition site. */
export function defineAction<P extends z.ZodType>(def: ActionDefinition<P>): ActionDefinition<P> {
  return def;
}
