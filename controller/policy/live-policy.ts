/**
 * The controller's policy while it runs: reloaded on SIGHUP and when the file changes, atomically
 * swapped, and kept as it was when the new text is invalid. `LivePolicy` is a `Policy` whose fields
 * read the current one, so every part that holds it (requests, dispatch, artifacts) sees a reload
 * without being rebuilt. Each reload is audited with the file's SHA-256: `policy.loaded` or
 * `policy.rejected` (with its problems).
 *
 * Only a complete file is loaded (issue 23, finding 8: a file read while an editor wrote it parsed as
 * a valid prefix): the text must read the same twice, `settleMs` apart, before it is parsed (and an
 * environment must state its approvals, schema.ts). A policy that lowers an environment's approvals
 * is logged at error level and the `policy.loaded` record lists each lowering. After a swap,
 * `afterLoad` re-checks what is in flight against the new policy (issue 23, finding 3).
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyBaseLogger } from "fastify";
import { ConfigError } from "../errors.js";
import type { Store } from "../store/types.js";
import { type Policy, parsePolicy } from "./load-policy.js";

export class LivePolicy implements Policy {
  private current: Policy;

  constructor(initial: Policy) {
    this.current = initial;
  }

  get source(): string {
    return this.current.source;
  }
  get digest(): string {
    return this.current.digest;
  }
  get environments(): Policy["environments"] {
    return this.current.environments;
  }
  get roles(): Policy["roles"] {
    return this.current.roles;
  }
  get bindings(): Policy["bindings"] {
    return this.current.bindings;
  }

  /** The policy in force now, as one immutable value (for a decision that must not straddle a reload). */
  snapshot(): Policy {
    return this.current;
  }

  replace(next: Policy): void {
    this.current = next;
  }
}

export type ReloadTrigger = "sighup" | "file-change" | "manual";

export type ReloadOutcome =
  | { readonly kind: "loaded"; readonly digest: string; readonly previousDigest: string }
  | { readonly kind: "unchanged"; readonly digest: string }
  | { readonly kind: "rejected"; readonly digest: string | undefined; readonly problems: readonly string[] };

export interface PolicyReloaderDeps {
  readonly live: LivePolicy;
  /** The policy file; reloading needs one (the embedded default cannot change). */
  readonly path: string;
  /**
   * Problems that make a valid file unusable by this running controller (an environment the inventory
   * needs was removed, one without a signing key was added); empty when it may be used.
   */
  readonly check: (next: Policy) => readonly string[];
  readonly store: Store;
  readonly controllerId: string;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** How long the file's text must stay the same before it is loaded; default SETTLE_MS. */
  readonly settleMs?: number;
  /**
   * Runs after a new policy is in force (and its `policy.loaded` record written): ends what is in
   * flight that the new policy refuses. Its failure is logged; the policy stays loaded.
   */
  readonly afterLoad?: (policy: Policy, digest: string) => Promise<unknown>;
}

/** How long a policy file's text must stay unchanged before a reload takes it. */
export const SETTLE_MS = 200;
/** Reads of a file that keeps changing before the reload gives up on it (and keeps the old policy). */
const SETTLE_ROUNDS = 10;

/** An environment whose approvals the next policy lowers. */
export interface ApprovalsLowered {
  readonly environment: string;
  readonly from: number;
  readonly to: number;
}

/** The environments, in both policies, whose required approvals `next` lowers. */
export function approvalsLowered(previous: Policy, next: Policy): ApprovalsLowered[] {
  const lowered: ApprovalsLowered[] = [];
  for (const [environment, env] of next.environments) {
    const before = previous.environments.get(environment);
    if (before && env.approvals < before.approvals)
      lowered.push({ environment, from: before.approvals, to: env.approvals });
  }
  return lowered;
}

export class PolicyReloader {
  private readonly deps: PolicyReloaderDeps;
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The digest of the last rejected text, so a watcher does not re-audit the same bad file. */
  private lastRejected: string | undefined;

  constructor(deps: PolicyReloaderDeps) {
    this.deps = deps;
  }

  /**
   * Reads and validates the file, swaps it in or keeps the old policy, and audits the outcome. Reloads
   * run one at a time. A file-change reload of the text already in force (or already rejected) does
   * nothing; a SIGHUP always re-reads and records.
   */
  reload(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Watches the file's folder (editors and Kubernetes ConfigMaps replace the file rather than write it
   * in place, which a watch on the file itself would miss) and reloads `debounceMs` after the last event.
   */
  watch(debounceMs = 300): void {
    if (this.watcher) return;
    const name = basename(this.deps.path);
    try {
      this.watcher = watch(dirname(this.deps.path), { persistent: false }, (_event, file) => {
        // `..data` is the symlink a ConfigMap volume swaps; a null name means "something changed".
        if (file !== null && file !== name && !String(file).startsWith("..")) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.reload("file-change").catch((err: unknown) =>
            this.deps.log.error({ err }, "policy reload after a file change failed"),
          );
        }, debounceMs);
        this.timer.unref();
      });
      this.watcher.on("error", (err) => this.deps.log.warn({ err }, "watching the policy file stopped"));
    } catch (err) {
      this.deps.log.warn({ err, policy: this.deps.path }, "cannot watch the policy file; reload with SIGHUP");
      return;
    }
    // A change that landed between the first read at start-up and this watch raised no event the
    // watch could see (issue 23 attack, N6: a ConfigMap swapped during start-up was never loaded).
    // Read the file once more now: a file-change reload of the text in force does nothing.
    this.reload("file-change").catch((err: unknown) =>
      this.deps.log.error({ err }, "policy re-read after the watch started failed"),
    );
  }

  /** Stops watching and waits for a reload in progress. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
    await this.queue;
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const { live, path, store, log, now } = this.deps;
    const actor = `controller:${this.deps.controllerId}`;
    const read = await this.readSettled(path);
    if ("problem" in read) return this.reject(trigger, read.digest, [read.problem]);
    const text = read.text;
    const digest = createHash("sha256").update(text).digest("hex");
    if (trigger === "file-change" && (digest === live.digest || digest === this.lastRejected))
      return { kind: "unchanged", digest };
    let next: Policy;
    try {
      next = parsePolicy(text, path);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return this.reject(trigger, digest, err.problems);
    }
    const problems = this.deps.check(next);
    if (problems.length > 0) return this.reject(trigger, digest, problems);
    const previousDigest = live.digest;
    const lowered = approvalsLowered(live.snapshot(), next);
    await store.appendAudit(
      [
        {
          actor,
          event: "policy.loaded",
          details: {
            source: path,
            digest,
            previousDigest,
            trigger,
            changed: digest !== previousDigest,
            ...(lowered.length > 0 ? { approvalsLowered: lowered } : {}),
          },
        },
      ],
      now(),
    );
    live.replace(next);
    this.lastRejected = undefined;
    log.info({ policy: path, digest, previousDigest, trigger }, "policy loaded");
    if (lowered.length > 0) {
      // Loud on purpose: fewer people now stand between a requester and production.
      log.error(
        { policy: path, digest, previousDigest, trigger, approvalsLowered: lowered },
        `policy loaded that LOWERS required approvals: ${lowered.map((l) => `${l.environment} ${l.from} → ${l.to}`).join(", ")}`,
      );
    }
    if (this.deps.afterLoad) {
      await this.deps
        .afterLoad(next, digest)
        .catch((err: unknown) =>
          log.error({ err, digest }, "re-checking requests in flight after the policy reload failed"),
        );
    }
    return { kind: "loaded", digest, previousDigest };
  }

  /**
   * The file's text once it reads the same twice `settleMs` apart: a file being written in place
   * (an editor saving without a rename, a copy in progress) is not taken half-way. One that keeps
   * changing for SETTLE_ROUNDS reads is not taken at all.
   */
  private async readSettled(
    path: string,
  ): Promise<{ text: string } | { problem: string; digest: string | undefined }> {
    const settleMs = this.deps.settleMs ?? SETTLE_MS;
    const readText = async (): Promise<string | { problem: string; digest: undefined }> => {
      try {
        return await readFile(path, "utf8");
      } catch (err) {
        return { problem: `cannot read ${path}: ${(err as Error).message}`, digest: undefined };
      }
    };
    let text = await readText();
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      if (typeof text !== "string") return text;
      await sleep(settleMs);
      const again = await readText();
      if (again === text) return { text };
      text = again;
    }
    return {
      problem: `${path} was still changing after ${SETTLE_ROUNDS} reads ${settleMs} ms apart: write the new policy to a temporary file in the same folder and rename it over the old one`,
      digest: typeof text === "string" ? createHash("sha256").update(text).digest("hex") : undefined,
    };
  }

  private async reject(
    trigger: ReloadTrigger,
    digest: string | undefined,
    problems: readonly string[],
  ): Promise<ReloadOutcome> {
    const { live, path, store, log, now } = this.deps;
    this.lastRejected = digest;
    await store.appendAudit(
      [
        {
          actor: `controller:${this.deps.controllerId}`,
          event: "policy.rejected",
          details: {
            source: path,
            digest: digest ?? null,
            keptDigest: live.digest,
            trigger,
            problems: problems.slice(0, 50),
          },
        },
      ],
      now(),
    );
    log.warn(
      { policy: path, digest, keptDigest: live.digest, trigger, problems: problems.slice(0, 50) },
      "policy rejected: the previous policy stays in force",
    );
    return { kind: "rejected", digest, problems };
  }
}
