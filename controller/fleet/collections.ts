/**
 * Collections: one request over every agent a selector matches (docs/fleet.md).
 *
 * The target list is resolved and frozen when the collection is filed; an approver sees exactly that
 * list (and its digest) and one approval covers all of it. Agents that enroll later are not added.
 * Once approved, each target gets its own request (status, result, artifact and audit records like
 * any other, linked to the collection) with its own envelope bound to that agent's id, and the
 * targets run with at most `maxConcurrency` in flight under the error budget (error-budget.ts).
 * A failed target is a result, never a crash: the collection ends `completed` when every target was
 * tried, `stopped` when the budget (or a shutdown) left some unstarted.
 *
 * Inline results take a fast path: the request is created already dispatched and its outcome is
 * recorded, both through the BatchWriter, so a wave of targets costs one commit, not one per target.
 * Streamed results (heap snapshots) go through the Dispatcher, which stores the artifact.
 */

import { createHash, randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { canonicalJson } from "../audit/canonical-json.js";
import type { AuditEntry } from "../audit/chain.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { signedDetail } from "../dispatch/dispatcher.js";
import { buildClaims, type Envelope, signEnvelope } from "../dispatch/envelope.js";
import { verifyAnswer } from "../dispatch/verify-answer.js";
import { ControllerError } from "../errors.js";
import type { Principal } from "../identity/principal.js";
import { sameSubject } from "../identity/subject.js";
import { storedUrl } from "../inventory/load-inventory.js";
import type { SigningKey } from "../keys.js";
import type { Policy } from "../policy/load-policy.js";
import { canSee, listVisible } from "../policy/visibility.js";
import { type ActionCatalogue, assertActionParams } from "../requests/action-params.js";
import { collectionNotOnChain } from "../requests/chain-approvals.js";
import { assertMayDecide, invalidState } from "../requests/decision-rules.js";
import {
  approvalsInForce,
  approvedItemNotAllowed,
  entitlement,
  type NotAllowedNow,
  notAllowedMessage,
  requesterNotEntitled,
  requesterOf,
  staleApprovals,
} from "../requests/entitlement.js";
import { startSweeper } from "../requests/sweeper.js";
import type { Announcement } from "../requests/webhook.js";
import type {
  CollectionRecord,
  CollectionStatus,
  CollectionSummary,
  CollectionTarget,
  CollectionTrigger,
  MaxErrors,
  NewCollection,
} from "../store/fleet-types.js";
import type { NewRequest, RequestRecord, RequestStatus, Store } from "../store/types.js";
import { BatchWriter } from "./batch-writer.js";
import { errorBudget, parseMaxErrors, runWithBudget } from "./error-budget.js";
import type { FleetRegistry } from "./registry.js";
import { parseSelector, SelectorError } from "./selector.js";

/**
 * Actions that load the target: one pod at a time unless the requester says otherwise
 * (class-histogram: a JVM's full GC).
 */
export const HEAVY_ACTIONS: ReadonlySet<string> = new Set([
  "heap-snapshot",
  "cpu-profile",
  "class-histogram",
]);
/** Actions whose result only exists as a stream (an artifact). */
const STREAM_ACTIONS: ReadonlySet<string> = new Set(["heap-snapshot", "bundle"]);
/** Default in-flight targets of a light action. */
export const DEFAULT_MAX_CONCURRENCY = 10;
export const MAX_CONCURRENCY = 100;

export interface NewCollectionInput {
  readonly action: string;
  readonly selector: string;
  /** Required when the selector matches agents in several environments. */
  readonly environment?: string | undefined;
  readonly params: Record<string, unknown>;
  readonly reason: string;
  readonly ticket?: string | undefined;
  readonly maxConcurrency?: number | undefined;
  /** `N` or `P%`; unset means every target is tried. */
  readonly maxErrors?: string | undefined;
  readonly output?: "inline" | "stream" | undefined;
}

export interface CollectionServiceDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly registry: FleetRegistry;
  readonly dispatcher: Dispatcher;
  readonly keys: ReadonlyMap<string, SigningKey>;
  readonly controllerId: string;
  readonly timeoutMs: number;
  readonly maxResultBytes: number;
  /** The largest target list a collection may have. */
  readonly maxTargets?: number;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** The action catalogue collections are checked against when filed (default: the wire contract's). */
  readonly actions?: ActionCatalogue;
  /** Announces collections waiting for approval (the approval webhook); optional. */
  readonly announce?: ((announcement: Announcement) => void) | undefined;
}

/** One target's outcome as the collection view shows it. */
export interface TargetOutcome {
  readonly target: string;
  /** `skipped` when it was never started. */
  readonly status: RequestStatus | "skipped" | "waiting";
  readonly requestId?: string;
  readonly error?: { code: string; message: string };
  readonly result?: unknown;
  readonly artifactId?: string;
}

export class CollectionService {
  private readonly deps: CollectionServiceDeps;
  private readonly actor: string;
  private readonly running = new Map<string, Promise<void>>();
  private stopSweeper: (() => void) | undefined;
  private closing = false;

  constructor(deps: CollectionServiceDeps) {
    this.deps = deps;
    this.actor = `controller:${deps.controllerId}`;
  }

  /**
   * Files a collection: resolves the selector to a frozen target list, checks the policy and stores
   * it pending (or approved and running when the environment needs no approval).
   */
  async create(
    who: Principal,
    input: NewCollectionInput,
    trigger?: CollectionTrigger,
  ): Promise<CollectionRecord> {
    const { store, policy, now } = this.deps;
    const at = now();
    const facts = { action: input.action, selector: input.selector, environment: input.environment };
    const refuse = async (code: "KH_POLICY_DENIED" | "KH_NO_TARGETS" | "KH_BAD_REQUEST", message: string) => {
      await store.appendAudit(
        [
          {
            actor: who.subject,
            event: "collection.refused",
            details: { ...facts, code, message, ...(trigger ? { trigger } : {}) },
            reason: input.reason,
            ...(input.ticket ? { ticket: input.ticket } : {}),
          },
        ],
        at,
      );
      return new ControllerError(code, message);
    };
    assertActionParams(input.action, input.params, this.deps.actions);
    let selector: ReturnType<typeof parseSelector>;
    let maxErrors: MaxErrors | undefined;
    try {
      selector = parseSelector(input.selector);
      maxErrors = input.maxErrors === undefined ? undefined : parseMaxErrors(input.maxErrors);
    } catch (err) {
      if (err instanceof SelectorError || err instanceof RangeError)
        throw new ControllerError("KH_BAD_REQUEST", err.message);
      throw err;
    }
    if (selector.terms.length === 0)
      throw new ControllerError("KH_BAD_REQUEST", "a collection needs a selector with at least one term");
    const matched = this.deps.registry
      .list(selector)
      .filter((a) => input.environment === undefined || a.environment === input.environment);
    const usable = matched.filter(
      (a) =>
        (a.state === "static" || a.state === "online") &&
        // An enrolled agent says what it enables: one without the action would only refuse.
        (a.actions === undefined || a.actions.length === 0 || a.actions.includes(input.action)),
    );
    if (usable.length === 0) {
      const unusable = matched.length - usable.length;
      throw await refuse(
        "KH_NO_TARGETS",
        `no online agent${input.environment ? ` in "${input.environment}"` : ""} matches "${selector.text}"` +
          (unusable > 0
            ? ` (${unusable} match but are offline, revoked or do not enable ${input.action})`
            : ""),
      );
    }
    const environments = [...new Set(usable.map((a) => a.environment))].sort();
    if (environments.length > 1) {
      throw await refuse(
        "KH_BAD_REQUEST",
        `"${selector.text}" matches agents in several environments (${environments.join(", ")}); name one with environment`,
      );
    }
    const environment = environments[0]!;
    const maxTargets = this.deps.maxTargets ?? 1000;
    if (usable.length > maxTargets) {
      throw await refuse(
        "KH_BAD_REQUEST",
        `"${selector.text}" matches ${usable.length} agents; a collection covers at most ${maxTargets}`,
      );
    }
    const decision = entitlement(policy, who, { ...input, environment });
    if (!decision.allowed) throw await refuse("KH_POLICY_DENIED", decision.reason);
    const env = policy.environments.get(environment)!;
    const heavy = HEAVY_ACTIONS.has(input.action);
    const maxConcurrency = input.maxConcurrency ?? (heavy ? 1 : DEFAULT_MAX_CONCURRENCY);
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > MAX_CONCURRENCY)
      throw new ControllerError(
        "KH_BAD_REQUEST",
        `maxConcurrency must be an integer from 1 to ${MAX_CONCURRENCY}`,
      );
    const output = STREAM_ACTIONS.has(input.action) ? "stream" : (input.output ?? "inline");
    assertActionParams(input.action, input.params, this.deps.actions, output);
    const targets: CollectionTarget[] = usable
      .map((a) => ({ id: a.id, url: storedUrl(a), source: a.source, labels: { ...a.labels } }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const id = randomUUID();
    const autoApproved = env.approvals === 0;
    const collection: NewCollection = {
      id,
      status: autoApproved ? "approved" : "pending",
      subject: who.subject,
      action: input.action,
      selector: selector.text,
      environment,
      params: input.params,
      reason: input.reason,
      ticket: input.ticket,
      output,
      targets,
      targetsDigest: targetsDigest(targets),
      maxConcurrency,
      maxErrors,
      errorBudget: errorBudget(maxErrors, targets.length),
      approvalsRequired: env.approvals,
      createdAt: at,
      expiresAt: at + env.pendingTtlSeconds * 1000,
      trigger,
      requester: requesterOf(who),
    };
    const audit: AuditEntry[] = [
      {
        actor: who.subject,
        event: "collection.created",
        details: {
          collectionId: id,
          action: input.action,
          selector: selector.text,
          environment,
          params: input.params,
          output,
          targets: targets.map((t) => t.id),
          targetsDigest: collection.targetsDigest,
          maxConcurrency,
          maxErrors: input.maxErrors ?? null,
          errorBudget: collection.errorBudget,
          approvalsRequired: env.approvals,
          binding: decision.binding,
          role: decision.role,
          ...(trigger ? { trigger } : {}),
        },
        reason: input.reason,
        ...(input.ticket ? { ticket: input.ticket } : {}),
      },
    ];
    if (autoApproved) {
      audit.push({
        actor: this.actor,
        event: "collection.approved",
        details: {
          collectionId: id,
          automatic: true,
          approvals: 0,
          approvalsRequired: 0,
          status: "approved",
        },
      });
    }
    await store.fleet.createCollection(collection, audit, at);
    if (autoApproved) this.schedule(id);
    const created = (await store.fleet.getCollection(id))!;
    if (!autoApproved) this.deps.announce?.({ kind: "collection-pending", collection: created });
    return created;
  }

  /**
   * Records one approval. `targetsDigest` must be the digest of the frozen target list the approver
   * was shown: the approval then provably covers that exact list. Without it nothing is approved
   * (`KH_TARGETS_UNCONFIRMED`, console attack F6): an approver approves the list they saw.
   */
  async approve(
    who: Principal,
    id: string,
    note: string | undefined,
    targetsDigest: string | undefined,
  ): Promise<CollectionRecord> {
    const collection = await this.pendingForDecision(who, id, "approve");
    if (collection.approvals.some((a) => sameSubject(a.subject, who.subject)))
      throw new ControllerError(
        "KH_ALREADY_APPROVED",
        `${who.subject} has already approved collection "${id}"`,
      );
    if (targetsDigest === undefined)
      throw new ControllerError(
        "KH_TARGETS_UNCONFIRMED",
        `collection "${id}": approve it with the targetsDigest of the target list you were shown (${collection.targets.length} target(s), digest ${collection.targetsDigest})`,
      );
    if (targetsDigest !== collection.targetsDigest) {
      throw new ControllerError(
        "KH_TARGETS_CHANGED",
        `collection "${id}" covers targets with digest ${collection.targetsDigest}, not ${targetsDigest}`,
      );
    }
    const notEntitled = await requesterNotEntitled(this.deps, collection);
    if (notEntitled) throw await this.refuseApproval(who, collection, notEntitled);
    // Approvals by people who lost the right or the credential since do not count (issue 23 attack, N1).
    const stale = await staleApprovals(this.deps, "collection", collection);
    const outcome = await this.deps.store.fleet.addCollectionApproval(
      {
        collectionId: id,
        subject: who.subject,
        note,
        at: this.deps.now(),
        required: approvalsInForce(this.deps.policy, collection),
        discount: stale.length,
      },
      ({ count, approved }) => [
        {
          actor: who.subject,
          event: "collection.approved",
          details: {
            collectionId: id,
            approvals: count,
            approvalsRequired: approvalsInForce(this.deps.policy, collection),
            status: approved ? "approved" : "pending",
            targets: collection.targets.length,
            targetsDigest: collection.targetsDigest,
            approver: requesterOf(who),
            ...(stale.length > 0 ? { notCounted: stale } : {}),
            ...(note ? { note } : {}),
          },
        },
      ],
    );
    switch (outcome.kind) {
      case "not-found":
        throw new ControllerError("KH_NOT_FOUND", `no collection "${id}"`);
      case "not-pending":
        throw invalidState("collection", id, outcome.status, "approve");
      case "duplicate":
        throw new ControllerError(
          "KH_ALREADY_APPROVED",
          `${who.subject} has already approved collection "${id}"`,
        );
      case "added":
        if (outcome.approved) this.schedule(id);
    }
    return (await this.deps.store.fleet.getCollection(id))!;
  }

  /**
   * Ends a pending collection whose requester is not entitled to it any more (denied by the
   * controller, with the code in the record), and returns the refusal for the approver.
   */
  private async refuseApproval(
    who: Principal,
    collection: CollectionRecord,
    notEntitled: string,
  ): Promise<ControllerError> {
    const code = "KH_REQUESTER_NOT_ENTITLED";
    const message = `${collection.subject} is no longer entitled to collection "${collection.id}": ${notEntitled}`;
    await this.deps.store.fleet.transitionCollection(
      {
        id: collection.id,
        from: "pending",
        to: "denied",
        at: this.deps.now(),
        set: { denial: { by: this.actor, reason: message } },
      },
      [
        {
          actor: this.actor,
          event: "collection.denied",
          details: { collectionId: collection.id, code, stage: "approval", approver: who.subject },
          reason: message,
        },
      ],
    );
    this.deps.log.warn({ collectionId: collection.id, approver: who.subject, code }, message);
    return new ControllerError(code, message);
  }

  /** Denies (or, for the requester, withdraws) a pending collection. */
  async deny(who: Principal, id: string, reason: string): Promise<CollectionRecord> {
    const collection = await this.pendingForDecision(who, id, "deny");
    const withdrawn = sameSubject(who.subject, collection.subject);
    const moved = await this.deps.store.fleet.transitionCollection(
      {
        id,
        from: "pending",
        to: "denied",
        at: this.deps.now(),
        set: { denial: { by: who.subject, reason } },
      },
      [{ actor: who.subject, event: "collection.denied", details: { collectionId: id, withdrawn }, reason }],
    );
    const after = (await this.deps.store.fleet.getCollection(id))!;
    if (!moved) throw invalidState("collection", id, after.status, "deny");
    return after;
  }

  /** A collection the caller may see, with each target's outcome so far. */
  async get(who: Principal, id: string): Promise<{ collection: CollectionRecord; targets: TargetOutcome[] }> {
    const collection = await this.deps.store.fleet.getCollection(id);
    if (!collection || !canSee(this.deps.policy, who, collection))
      throw new ControllerError("KH_NOT_FOUND", `no collection "${id}"`);
    return { collection, targets: await this.outcomes(collection) };
  }

  /** Visible collections, newest first. */
  async list(
    who: Principal,
    query: { status?: CollectionStatus; limit: number },
  ): Promise<CollectionRecord[]> {
    return listVisible(
      query.limit,
      (before) => this.deps.store.fleet.listCollections({ status: query.status, limit: query.limit, before }),
      (record) => canSee(this.deps.policy, who, record),
    );
  }

  /**
   * Starts the expiry sweeper, runs collections left approved by a previous run, and closes the ones
   * a previous run left running (their unstarted targets are recorded as skipped).
   */
  async start(options: { sweepIntervalMs: number }): Promise<void> {
    this.stopSweeper ??= startSweeper(() => this.expireStale(), options.sweepIntervalMs, this.deps.log);
    for (const c of await this.deps.store.fleet.listCollectionsByStatus("running", 1000)) {
      if (!this.running.has(c.id)) await this.finish(c, this.deps.now(), true);
    }
    for (const c of await this.deps.store.fleet.listCollectionsByStatus("approved", 1000))
      this.schedule(c.id);
  }

  /** Stops starting targets, waits for the ones in flight and records each collection's summary. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopSweeper?.();
    this.stopSweeper = undefined;
    await this.whenIdle();
  }

  /** Resolves once no collection is running in this process. */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /**
   * After a policy reload (issue 23, finding 3), as RequestService.recheckInFlight: a pending
   * collection whose requester is no longer entitled, and an approved one not yet running whose
   * requester is no longer entitled or that lacks the approvals now required, ends `denied` by the
   * controller with the code, audited as `collection.denied` with `stage: "policy-reload"`. A running
   * collection checks each target before signing it (runTarget). Returns how many ended.
   */
  async recheckInFlight(policyDigest: string): Promise<number> {
    let ended = 0;
    for (const c of await this.deps.store.fleet.listCollectionsByStatus("pending", 1000)) {
      const reason = await requesterNotEntitled(this.deps, c);
      if (!reason) continue;
      const notAllowed: NotAllowedNow = { code: "KH_REQUESTER_NOT_ENTITLED", reason };
      if (await this.endAfterReload(c, "pending", notAllowed, policyDigest)) ended++;
    }
    for (const c of await this.deps.store.fleet.listCollectionsByStatus("approved", 1000)) {
      if (this.running.has(c.id)) continue; // its run checks each target before signing
      const notAllowed = await approvedItemNotAllowed(this.deps, c, "collection");
      if (notAllowed && (await this.endAfterReload(c, "approved", notAllowed, policyDigest))) ended++;
    }
    if (ended > 0)
      this.deps.log.warn({ count: ended, policyDigest }, "policy reload ended collections it refuses");
    return ended;
  }

  private async endAfterReload(
    collection: CollectionRecord,
    from: "pending" | "approved",
    notAllowed: NotAllowedNow,
    policyDigest: string,
  ): Promise<boolean> {
    const { code } = notAllowed;
    const message = notAllowedMessage(collection, notAllowed, "collection");
    return this.deps.store.fleet.transitionCollection(
      {
        id: collection.id,
        from,
        to: "denied",
        at: this.deps.now(),
        set: { denial: { by: this.actor, reason: message } },
      },
      [
        {
          actor: this.actor,
          event: "collection.denied",
          details: { collectionId: collection.id, code, stage: "policy-reload", policyDigest, was: from },
          reason: message,
        },
      ],
    );
  }

  /** Expires pending collections past their expiry; returns how many moved. */
  async expireStale(): Promise<number> {
    const now = this.deps.now();
    let expired = 0;
    for (const c of await this.deps.store.fleet.listCollectionsByStatus("pending", 1000)) {
      if (c.expiresAt <= now && (await this.expire(c, now))) expired++;
    }
    return expired;
  }

  private schedule(id: string): void {
    if (this.running.has(id) || this.closing) return;
    const run = this.run(id)
      .catch((err: unknown) =>
        this.deps.log.error({ err, collectionId: id }, "collection failed unexpectedly"),
      )
      .finally(() => this.running.delete(id));
    this.running.set(id, run);
  }

  private async run(id: string): Promise<void> {
    const { store, now, log } = this.deps;
    const collection = await store.fleet.getCollection(id);
    if (collection?.status !== "approved") return;
    // The approvals the row claims must be on the audit chain (issue 23, finding 5); a collection
    // whose are not is ended, never run.
    const offChain = await collectionNotOnChain(store, collection);
    if (offChain) {
      const code = "KH_APPROVALS_INSUFFICIENT";
      const message = `collection "${id}" is not run: ${offChain}`;
      log.error({ collectionId: id, code }, message);
      await store.fleet.transitionCollection(
        {
          id,
          from: "approved",
          to: "denied",
          at: now(),
          set: { denial: { by: this.actor, reason: message } },
        },
        [
          {
            actor: this.actor,
            event: "collection.denied",
            details: { collectionId: id, code, message, stage: "dispatch", chain: false },
          },
        ],
      );
      return;
    }
    const startedAt = now();
    const moved = await store.fleet.transitionCollection(
      { id, from: "approved", to: "running", at: startedAt },
      [
        {
          actor: this.actor,
          event: "collection.started",
          details: {
            collectionId: id,
            targets: collection.targets.length,
            maxConcurrency: collection.maxConcurrency,
            errorBudget: collection.errorBudget,
            approvals: collection.approvals.map((a) => a.subject),
          },
        },
      ],
    );
    if (!moved) return;
    const writer = new BatchWriter(store.fleet, now);
    const outcome = await runWithBudget(
      collection.targets,
      {
        concurrency: collection.maxConcurrency,
        budget: collection.errorBudget,
        shouldStop: () => this.closing,
      },
      (target) => this.runTarget(collection, target, writer),
    );
    await writer.drain();
    log.info({ collectionId: id, ...outcome }, "collection finished");
    await this.finish(collection, startedAt, this.closing && outcome.skipped > 0 && !outcome.budgetSpent);
  }

  /** Records the summary from the targets' requests and moves running → completed | stopped. */
  private async finish(collection: CollectionRecord, startedAt: number, interrupted: boolean): Promise<void> {
    const targets = await this.outcomes(collection, true);
    const count = (s: TargetOutcome["status"]) => targets.filter((t) => t.status === s).length;
    const skipped = count("skipped");
    const summary: CollectionSummary = {
      targets: targets.length,
      succeeded: count("completed"),
      failed: count("failed"),
      skipped,
      budgetSpent: skipped > 0 && !interrupted,
      startedAt,
      finishedAt: this.deps.now(),
    };
    const to = skipped > 0 ? "stopped" : "completed";
    await this.deps.store.fleet.transitionCollection(
      { id: collection.id, from: "running", to, at: summary.finishedAt, set: { summary } },
      [
        {
          actor: this.actor,
          event: "collection.finished",
          details: {
            collectionId: collection.id,
            status: to,
            ...summary,
            errorBudget: collection.errorBudget,
            ...(interrupted ? { interrupted: true } : {}),
          },
        },
      ],
    );
  }

  /** One target: its own request and envelope. Resolves true when it completed. */
  private async runTarget(
    collection: CollectionRecord,
    target: CollectionTarget,
    writer: BatchWriter,
  ): Promise<boolean> {
    const { policy, now } = this.deps;
    const at = now();
    const id = randomUUID();
    const env = policy.environments.get(collection.environment);
    const request: NewRequest = {
      id,
      status: "approved",
      subject: collection.subject,
      action: collection.action,
      target: target.id,
      environment: collection.environment,
      params: collection.params,
      reason: collection.reason,
      ticket: collection.ticket,
      output: collection.output,
      approvalsRequired: collection.approvalsRequired,
      createdAt: at,
      expiresAt: at + (env?.pendingTtlSeconds ?? 3600) * 1000,
      requester: collection.requester,
    };
    const created: AuditEntry = {
      actor: collection.subject,
      event: "request.created",
      requestId: id,
      details: {
        action: collection.action,
        target: target.id,
        environment: collection.environment,
        params: collection.params,
        output: collection.output,
        approvalsRequired: collection.approvalsRequired,
        collectionId: collection.id,
      },
      reason: collection.reason,
      ...(collection.ticket ? { ticket: collection.ticket } : {}),
    };
    const base = { kind: "create" as const, collectionId: collection.id, approvals: collection.approvals };
    const fail = async (code: string, message: string): Promise<false> => {
      await writer.submit({
        ...base,
        request: { ...request, status: "failed" },
        set: { error: { code, message } },
        audit: [created, this.failedRecord(id, { code, message })],
      });
      return false;
    };
    const agent = this.deps.registry.inventory.agents.get(target.id);
    if (!agent)
      return fail("KH_UNKNOWN_TARGET", `target "${target.id}" left the fleet after the collection was filed`);
    if (collection.output === "stream") {
      // The Dispatcher checks the requester's entitlement and the approvals in force before it signs.
      await writer.submit({ ...base, request, audit: [created] });
      await this.deps.dispatcher.dispatch(id);
      return (await this.deps.store.getRequest(id))?.status === "completed";
    }
    // Each target is signed later than the last: the requester's entitlement and the approvals the
    // environment requires now are checked before each (issue 16 F1; issue 23, finding 3).
    const notAllowed = await approvedItemNotAllowed(
      this.deps,
      { ...collection, breakGlass: false },
      "collection",
    );
    if (notAllowed) return fail(notAllowed.code, notAllowedMessage(collection, notAllowed, "collection"));
    const key = this.deps.keys.get(collection.environment);
    if (!env || !key)
      return fail("KH_DISPATCH_FAILED", `no policy or key for environment "${collection.environment}"`);
    const record = {
      ...request,
      approvals: collection.approvals,
      breakGlass: false,
    } as unknown as RequestRecord;
    let envelope: Envelope;
    try {
      envelope = await signEnvelope(
        buildClaims(record, { issuer: this.deps.controllerId, ttlSeconds: env.maxTtlSeconds, now: at }),
        key,
      );
    } catch (err) {
      return fail("KH_DISPATCH_FAILED", `cannot prepare the envelope: ${(err as Error).message}`);
    }
    const marked = await writer.submit({
      ...base,
      request: { ...request, status: "dispatched" },
      set: { jti: envelope.claims.jti, kid: envelope.kid },
      audit: [
        created,
        {
          actor: this.actor,
          event: "request.dispatched",
          requestId: id,
          details: {
            agent: agent.id,
            ...this.deps.dispatcher.transports.address(agent, (url) => url),
            jti: envelope.claims.jti,
            kid: envelope.kid,
            iat: envelope.claims.iat,
            exp: envelope.claims.exp,
            approvals: envelope.claims.approvals,
            output: "inline",
            collectionId: collection.id,
          },
        },
      ],
    });
    if (!marked) return false;
    // The answer's bytes count against the controller's one budget until the group commit stored it.
    const budget = this.deps.dispatcher.inlineBudget;
    const lease = budget.lease({ agent: agent.id, requester: collection.subject });
    const sent = await this.deps.dispatcher.transports.send(agent, envelope.jws, {
      timeoutMs: this.deps.timeoutMs,
      maxBytes: this.deps.maxResultBytes,
      lease,
      budgetBytes: budget.capBytes,
      expect: { jti: envelope.claims.jti, agent: agent.id },
    });
    // Nothing is recorded of an answer the agent did not sign (issue 21).
    const outcome = verifyAnswer(
      sent,
      { jti: envelope.claims.jti, agent: agent.id, action: record.action, publicKey: agent.publicKey },
      "inline",
    );
    // Not awaited: the slot frees now, the outcome joins the next group commit (drained at the end).
    let finish: Promise<boolean>;
    if (outcome.ok) {
      const serialised = canonicalJson(outcome.result);
      finish = writer.submit({
        kind: "transition",
        change: {
          id,
          from: "dispatched",
          to: "completed",
          set: {
            result: outcome.result,
            ...(outcome.signed ? { answerSignature: outcome.signed.signature } : {}),
          },
        },
        audit: [
          {
            actor: this.actor,
            event: "request.completed",
            requestId: id,
            details: {
              httpStatus: outcome.status,
              resultSha256: createHash("sha256").update(serialised).digest("hex"),
              resultBytes: Buffer.byteLength(serialised),
              ...signedDetail(outcome.signed),
            },
          },
        ],
      });
    } else {
      const error = { code: outcome.code, message: outcome.message };
      finish = writer.submit({
        kind: "transition",
        change: { id, from: "dispatched", to: "failed", set: { error } },
        audit: [this.failedRecord(id, error, outcome.status)],
      });
    }
    finish
      .catch((err: unknown) =>
        this.deps.log.error({ err, requestId: id }, "recording a target's outcome failed"),
      )
      .finally(() => lease.release());
    return outcome.ok;
  }

  private failedRecord(
    requestId: string,
    error: { code: string; message: string },
    httpStatus?: number,
  ): AuditEntry {
    return {
      actor: this.actor,
      event: "request.failed",
      requestId,
      details: { code: error.code, message: error.message, ...(httpStatus ? { httpStatus } : {}) },
    };
  }

  /** Each frozen target with its request's state; targets without a request are skipped (or waiting). */
  private async outcomes(collection: CollectionRecord, started = false): Promise<TargetOutcome[]> {
    const links = new Map(
      (await this.deps.store.fleet.listCollectionRequests(collection.id)).map((l) => [l.target, l.requestId]),
    );
    const notStarted: TargetOutcome["status"] =
      started || collection.status === "completed" || collection.status === "stopped" ? "skipped" : "waiting";
    const out: TargetOutcome[] = [];
    for (const target of collection.targets) {
      const requestId = links.get(target.id);
      const request = requestId ? await this.deps.store.getRequest(requestId) : undefined;
      if (!request) {
        out.push({ target: target.id, status: notStarted });
        continue;
      }
      out.push({
        target: target.id,
        status: request.status,
        requestId: request.id,
        ...(request.error ? { error: { ...request.error } } : {}),
        ...(request.result === undefined ? {} : { result: request.result }),
        ...(request.artifactId ? { artifactId: request.artifactId } : {}),
      });
    }
    return out;
  }

  private async pendingForDecision(
    who: Principal,
    id: string,
    verb: "approve" | "deny",
  ): Promise<CollectionRecord> {
    const collection = await this.deps.store.fleet.getCollection(id);
    if (!collection) throw new ControllerError("KH_NOT_FOUND", `no collection "${id}"`);
    const now = this.deps.now();
    if (collection.status === "pending" && collection.expiresAt <= now) await this.expire(collection, now);
    const current = (await this.deps.store.fleet.getCollection(id))!;
    assertMayDecide(this.deps.policy, who, current, verb, "collection");
    return current;
  }

  private expire(collection: CollectionRecord, now: number): Promise<boolean> {
    return this.deps.store.fleet.transitionCollection(
      { id: collection.id, from: "pending", to: "expired", at: now },
      [
        {
          actor: this.actor,
          event: "collection.expired",
          details: {
            collectionId: collection.id,
            approvals: collection.approvals.length,
            approvalsRequired: collection.approvalsRequired,
          },
        },
      ],
    );
  }
}

/** SHA-256 (hex) of the canonical JSON of the target ids, in order. */
export function targetsDigest(targets: readonly CollectionTarget[]): string {
  return createHash("sha256")
    .update(canonicalJson(targets.map((t) => t.id)))
    .digest("hex");
}
