/**
 * Teaching the redactor the target's secrets, in the request path, before any action runs.
 *
 * The known-value rule masks a target's secrets wherever they reappear (a log line, a report, a
 * heap string) only once the redactor knows them. Learning used to happen inside some actions
 * (process-info, diagnostic-report, the inspector actions), so a log-tail or a bundle sent first
 * after an agent or target restart returned env secrets in clear (issue 16, finding 1). The rule
 * now: no action may depend on another having run first. app.ts calls this for every envelope
 * that passed its checks, whatever the action, and actions never learn on their own.
 *
 * What is learned: every environment value `maskEnv` masks, and every command-line value
 * `maskArgv` masks (a `--db-password` value is in the target's heap as `process.argv` too, where
 * no flag stands before it). Both are read on every request (two small /proc reads) and learned
 * again only when their bytes differ from what was learned for that pid: a restarted target (new
 * pid), and an exec in place (same pid and start time, new environment: an entrypoint script that
 * exports a secret and then execs the service) are both new material.
 */
import { createHash } from "node:crypto";
import { parseEnviron } from "./proc/environ.js";
import { readProcBuffer, splitNul } from "./proc/proc-read.js";
import type { Redactor } from "./redact/index.js";

/** What learning needs: the target, where /proc is, and the redactor to teach. */
export interface LearnTarget {
  readonly pid: number;
  readonly procRoot: string;
  readonly redactor: Redactor;
}

/** Why learning failed, for the request's log line; undefined when it succeeded. */
export type LearnOutcome = undefined | { readonly err: unknown };

/** The raw secret in an argument `maskArgv` changed: the value of `--flag=value`, else the argument. */
function argumentSecret(arg: string): string {
  const eq = arg.startsWith("-") ? arg.indexOf("=") : -1;
  return eq > 0 ? arg.slice(eq + 1) : arg;
}

/**
 * Teaches `redactor` every masked value of the target's environment and command line, once per
 * distinct pair of them. Uncounted (a request's mask counts are what its own output masked). A
 * target whose environ cannot be read (another uid without CAP_SYS_PTRACE) is masked by the other
 * rules alone; the failure is returned for the caller to log, never thrown: the env action
 * reports it itself.
 */
export function learnTargetSecrets(target: LearnTarget): LearnOutcome {
  let environ: Buffer;
  let cmdline: Buffer;
  try {
    environ = readProcBuffer(target.procRoot, target.pid, "environ");
    cmdline = readProcBuffer(target.procRoot, target.pid, "cmdline");
  } catch (err) {
    return { err };
  }
  const digest = createHash("sha256").update(environ).update("\n--\n").update(cmdline).digest("base64url");
  target.redactor.learnOnce(`target:${target.pid}:${digest}`, (redactor) => {
    // The same judgement as the env action's: a value maskEnv masks is a secret from now on.
    for (const [name, value] of parseEnviron(environ)) {
      if (redactor.maskEnv(name, value).masked) redactor.remember(value);
    }
    const argv = splitNul(cmdline);
    for (const [i, masked] of redactor.maskArgv(argv).entries()) {
      if (masked !== argv[i]) redactor.remember(argumentSecret(argv[i]!));
    }
  });
  return undefined;
}
