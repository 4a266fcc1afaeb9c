/**
 * The controller's policy while it runs: reloaded on SIGHUP and when the file changes, atomically
 * swapped, and kept as it was when the new text is invalid. `LivePolicy` is a `Policy` whose fields
 * read the current one, so every part that holds it (requests, dispatch, artifacts) sees a reload
 * without being rebuilt. Each reload is audited with the file's SHA-256: `policy.loaded` or
 * `policy.rejected` (with its problems).
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
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
    }
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
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      return this.reject(trigger, undefined, [`cannot read ${path}: ${(err as Error).message}`]);
    }
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
    await store.appendAudit(
      [
        {
          actor,
          event: "policy.loaded",
          details: { source: path, digest, previousDigest, trigger, changed: digest !== previousDigest },
        },
      ],
      now(),
    );
    live.replace(next);
    this.lastRejected = undefined;
    log.info({ policy: path, digest, previousDigest, trigger }, "policy loaded");
    return { kind: "loaded", digest, previousDigest };
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
