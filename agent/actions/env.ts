/**
 * `env`: every variable the target was started with: names in clear, values masked inside the
 * pod, and a keyed fingerprint of each masked value so two pods can be compared without seeing it.
 */
import { envParams } from "../../protocol/actions.js";
import { readEnviron } from "../proc/environ.js";
import { type ActionContext, defineAction } from "./types.js";

/** One variable as it leaves the pod. */
export interface EnvVariable {
  readonly name: string;
  readonly value: string;
  readonly masked: boolean;
  readonly rule?: string;
  readonly fingerprint?: string;
}

/** The result of `env`. */
export interface EnvResult {
  readonly pid: number;
  readonly variables: EnvVariable[];
  readonly maskedCount: number;
}

/**
 * Masks the target's environment and remembers each masked value in the redactor, so the same
 * secret is masked when it reappears elsewhere (a command line, a log line). Every request learns
 * the environment before its action runs anyway (agent/learn-target.ts); this only refreshes it.
 */
export function maskedEnvironment(ctx: Pick<ActionContext, "pid" | "procRoot" | "redactor">): EnvResult {
  const variables: EnvVariable[] = [];
  for (const [name, raw] of readEnviron(ctx.pid, { procRoot: ctx.procRoot })) {
    const { value, masked, rule, fingerprint } = ctx.redactor.maskEnv(name, raw);
    if (masked) ctx.redactor.remember(raw);
    variables.push({
      name,
      value,
      masked,
      ...(rule !== undefined ? { rule } : {}),
      ...(fingerprint !== undefined ? { fingerprint } : {}),
    });
  }
  return { pid: ctx.pid, variables, maskedCount: variables.filter((v) => v.masked).length };
}

export const envAction = defineAction({
  name: "env",
  description:
    "Every environment variable of the target: names, masked values, fingerprints of masked values.",
  params: envParams,
  outputs: ["inline"],
  limits: {
    timeoutMs: 5_000,
    maxConcurrency: 4,
    // An environment block is at most a few MiB (ARG_MAX); markers only shorten values.
    maxOutputBytes: 4 * 1024 * 1024,
  },
  async run(_params, ctx): Promise<EnvResult> {
    ctx.signal.throwIfAborted();
    return maskedEnvironment(ctx);
  },
});
