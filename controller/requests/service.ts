/**
 * The request lifecycle: pending → approved → dispatched → completed | failed, and pending → denied |
 * expired. Every decision is checked against the policy here, written with its audit records in one
 * store transaction, and every transition is compare-and-set.
 *
 * Deny rules: an entitled approver (not the requester) may deny a pending request; the requester may
 * also withdraw their own pending request, which is recorded as denied by themselves with
 * `withdrawn: true`. Only pending requests can be denied.
 */

import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { AuditEntry } from "../audit/chain.js";
import type { Dispatcher } from "../dispatch/dispatcher.js";
import { ControllerError } from "../errors.js";
import type { Principal } from "../identity/principal.js";
import { sameSubject } from "../identity/subject.js";
import type { Inventory } from "../inventory/load-inventory.js";
import { approversOf } from "../policy/approvers.js";
import type { PolicyDecision } from "../policy/evaluate.js";
import type { Policy } from "../policy/load-policy.js";
import type { EnvironmentPolicy } from "../policy/schema.js";
import { canSee, listVisible } from "../policy/visibility.js";
import type { OutputMode, RequestRecord, RequestStatus, Store } from "../store/types.js";
import type { ControllerTelemetry } from "../telemetry/index.js";
import { withTraceparent } from "../telemetry/trace-context.js";
import { type ActionCatalogue, assertActionParams } from "./action-params.js";
import { assertMayDecide, invalidState } from "./decision-rules.js";
import {
  approvalsInForce,
  approvedItemNotAllowed,
  entitlement,
  type NotAllowedNow,
  notAllowedMessage,
  requesterNotEntitled,
  requesterOf,
  staleApprovals,
} from "./entitlement.js";
import { startSweeper } from "./sweeper.js";
import type { Announcement } from "./webhook.js";

export interface NewRequestInput {
  readonly action: string;
  readonly target: string;
  readonly params: Record<string, unknown>;
  readonly reason: string;
  readonly ticket?: string | undefined;
  /** How the result leaves the agent; default inline. */
  readonly output?: OutputMode | undefined;
  /** Skip approval under break-glass (only where the environment allows it; needs a ticket). */
  readonly breakGlass?: boolean | undefined;
}

export interface RequestServiceDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly inventory: Inventory;
  readonly dispatcher: Dispatcher;
  /** Whether the artifact store takes direct (s3) uploads. */
  readonly directUploads?: boolean;
  readonly controllerId: string;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** OpenTelemetry (controller/telemetry); absent means off. */
  readonly telemetry?: ControllerTelemetry;
  /** Announces pending requests and break-glass uses (the approval webhook); optional. */
  readonly announce?: ((announcement: Announcement) => void) | undefined;
  /** The action catalogue requests are checked against when filed (default: the wire contract's). */
  readonly actions?: ActionCatalogue;
}

export class RequestService {
  private readonly deps: RequestServiceDeps;
  private readonly actor: string;
  private stopSweeper: (() => void) | undefined;

  constructor(deps: RequestServiceDeps) {
    this.deps = deps;
    this.actor = `controller:${deps.controllerId}`;
  }

  /**
   * Files a request; with no approvals needed it is approved at once and dispatched in the background.
   * `trace.traceparent` is the caller's trace (the CLI's header): the request's span continues it.
   */
  async create(
    who: Principal,
    input: NewRequestInput,
    trace: { traceparent?: string | undefined } = {},
  ): Promise<RequestRecord> {
    const telemetry = this.deps.telemetry;
    if (!telemetry?.enabled) return this.createUntraced(who, input);
    const span = telemetry.span("keyhole.request.create", {
      parent: trace.traceparent,
      kind: "server",
      attributes: {
        "keyhole.action": input.action,
        "keyhole.target": input.target,
        "enduser.id": who.subject,
        "keyhole.break_glass": Boolean(input.breakGlass),
      },
    });
    try {
      // Run under the span's trace, so a dispatch scheduled from here continues it.
      const created = await withTraceparent(span.traceparent, () => this.createUntraced(who, input));
      telemetry.rememberTrace(created.id, span.traceparent);
      span.setAttributes({
        "keyhole.request.id": created.id,
        "keyhole.environment": created.environment,
        "keyhole.status": created.status,
      });
      span.end();
      return created;
    } catch (err) {
      span.end({ code: (err as { code?: string }).code ?? "KH_INTERNAL", message: (err as Error).message });
      throw err;
    }
  }

  private async createUntraced(who: Principal, input: NewRequestInput): Promise<RequestRecord> {
    const { store, policy, inventory, now } = this.deps;
    assertActionParams(input.action, input.params, this.deps.actions, input.output ?? "inline");
    const agent = inventory.agents.get(input.target);
    if (!agent)
      throw new ControllerError("KH_UNKNOWN_TARGET", `target "${input.target}" is not in the inventory`);
    const env = policy.environments.get(agent.environment)!; // the inventory loader guarantees it
    if (input.output === "s3" && !this.deps.directUploads) {
      throw new ControllerError(
        "KH_OUTPUT_UNSUPPORTED",
        "output s3 needs the S3 artifact store (--s3-bucket); use output stream to store through the controller",
      );
    }
    const decision = entitlement(policy, who, { ...input, environment: agent.environment });
    const facts = { action: input.action, target: input.target, environment: agent.environment };
    const at = now();
    if (!decision.allowed) {
      await store.appendAudit(
        [
          {
            actor: who.subject,
            event: "request.refused",
            details: { ...facts, decision: decision.reason },
            reason: input.reason,
            ...(input.ticket ? { ticket: input.ticket } : {}),
          },
        ],
        at,
      );
      throw new ControllerError("KH_POLICY_DENIED", decision.reason);
    }
    if (input.breakGlass) return this.createBreakGlass(who, input, env, decision, facts, at);
    const id = randomUUID();
    const autoApproved = env.approvals === 0;
    const audit: AuditEntry[] = [
      {
        actor: who.subject,
        event: "request.created",
        requestId: id,
        details: {
          ...facts,
          params: input.params,
          output: input.output ?? "inline",
          approvalsRequired: env.approvals,
          binding: decision.binding,
          role: decision.role,
          // Which credential filed it: the evidence report flags a token with no issuance on the chain.
          credential: requesterOf(who).credential,
        },
        reason: input.reason,
        ...(input.ticket ? { ticket: input.ticket } : {}),
      },
    ];
    if (autoApproved) {
      audit.push({
        actor: this.actor,
        event: "request.approved",
        requestId: id,
        details: { automatic: true, approvals: 0, approvalsRequired: 0, status: "approved" },
      });
    }
    await store.createRequest(
      {
        id,
        status: autoApproved ? "approved" : "pending",
        subject: who.subject,
        action: input.action,
        target: input.target,
        environment: agent.environment,
        params: input.params,
        reason: input.reason,
        ticket: input.ticket,
        output: input.output ?? "inline",
        approvalsRequired: env.approvals,
        createdAt: at,
        expiresAt: at + env.pendingTtlSeconds * 1000,
        requester: requesterOf(who),
      },
      audit,
      at,
    );
    if (autoApproved) this.deps.dispatcher.schedule(id);
    const created = (await store.getRequest(id))!;
    if (!autoApproved) this.deps.announce?.({ kind: "pending", request: created });
    return created;
  }

  /**
   * Break-glass: no approval wait where the environment allows it. The caller must still be entitled
   * to the action there; the cooldown and the review are written in the same transaction as the
   * request, so a refused attempt leaves only its `request.refused` record.
   */
  private async createBreakGlass(
    who: Principal,
    input: NewRequestInput,
    env: EnvironmentPolicy,
    decision: PolicyDecision,
    facts: { action: string; target: string; environment: string },
    at: number,
  ): Promise<RequestRecord> {
    const { store } = this.deps;
    const refuse = async (code: "KH_BREAK_GLASS_FORBIDDEN" | "KH_BREAK_GLASS_COOLDOWN", message: string) => {
      await store.appendAudit(
        [
          {
            actor: who.subject,
            event: "request.refused",
            details: { ...facts, breakGlass: true, code, decision: message },
            reason: input.reason,
            ...(input.ticket ? { ticket: input.ticket } : {}),
          },
        ],
        at,
      );
      return new ControllerError(code, message);
    };
    if (!env.breakGlass) {
      throw await refuse(
        "KH_BREAK_GLASS_FORBIDDEN",
        `environment "${facts.environment}" does not allow break-glass; ask for approval instead`,
      );
    }
    if (!input.ticket)
      throw new ControllerError("KH_BAD_REQUEST", "break-glass needs a ticket (the incident it is for)");
    const id = randomUUID();
    const reviewId = randomUUID();
    const request = {
      id,
      status: "approved" as const,
      subject: who.subject,
      action: input.action,
      target: input.target,
      environment: facts.environment,
      params: input.params,
      reason: input.reason,
      ticket: input.ticket,
      output: input.output ?? "inline",
      approvalsRequired: env.approvals,
      createdAt: at,
      expiresAt: at + env.pendingTtlSeconds * 1000,
      breakGlass: true,
      requester: requesterOf(who),
    };
    const details = { ...facts, reviewId, cooldownSeconds: env.breakGlassCooldownSeconds };
    const outcome = await store.createBreakGlassRequest(
      request,
      {
        id: reviewId,
        requestId: id,
        subject: who.subject,
        action: input.action,
        target: input.target,
        environment: facts.environment,
        reason: input.reason,
        ticket: input.ticket,
        openedAt: at,
        closedAt: undefined,
        closedBy: undefined,
        note: undefined,
        overdueAt: undefined,
      },
      [
        {
          actor: who.subject,
          event: "request.created",
          requestId: id,
          details: {
            ...facts,
            params: input.params,
            output: input.output ?? "inline",
            approvalsRequired: env.approvals,
            binding: decision.binding,
            role: decision.role,
            breakGlass: true,
            credential: requesterOf(who).credential,
          },
          reason: input.reason,
          ticket: input.ticket,
        },
        {
          actor: who.subject,
          event: "breakglass.used",
          requestId: id,
          details,
          reason: input.reason,
          ticket: input.ticket,
        },
        {
          actor: this.actor,
          event: "request.approved",
          requestId: id,
          details: {
            automatic: true,
            breakGlass: true,
            approvals: 0,
            approvalsRequired: env.approvals,
            status: "approved",
          },
        },
      ],
      at,
      // A use at or after this instant holds the subject: the next use is possible cooldown after it.
      at - env.breakGlassCooldownSeconds * 1000 + 1,
    );
    if (outcome.kind === "cooldown") {
      const until = new Date(outcome.lastAt + env.breakGlassCooldownSeconds * 1000).toISOString();
      throw await refuse(
        "KH_BREAK_GLASS_COOLDOWN",
        `${who.subject} used break-glass at ${new Date(outcome.lastAt).toISOString()}; the next use is possible from ${until}`,
      );
    }
    this.deps.log.warn(
      {
        requestId: id,
        reviewId,
        subject: who.subject,
        action: input.action,
        target: input.target,
        ticket: input.ticket,
      },
      "break-glass used: a review is open until someone else closes it",
    );
    this.deps.dispatcher.schedule(id);
    const created = (await store.getRequest(id))!;
    this.deps.announce?.({ kind: "break-glass", request: created, reviewId });
    return created;
  }

  /**
   * Records one approval; the last one needed approves the request and dispatches it. The requester
   * must still be entitled to it (the filing rule against the policy and credentials in force now):
   * if not, the approval is refused with KH_REQUESTER_NOT_ENTITLED and the request fails with that
   * code, audited as `request.failed`, so it can never be approved later.
   */
  async approve(who: Principal, id: string, note: string | undefined): Promise<RequestRecord> {
    const request = await this.pendingForDecision(who, id, "approve");
    // The store counts one approval per stored subject; an approval recorded before subjects were
    // canonical (`user:Bob@…`) is still the same person as `user:bob@…`.
    if (request.approvals.some((a) => sameSubject(a.subject, who.subject)))
      throw new ControllerError("KH_ALREADY_APPROVED", `${who.subject} has already approved request "${id}"`);
    const notEntitled = await requesterNotEntitled(this.deps, request);
    if (notEntitled) throw await this.refuseApproval(who, request, notEntitled);
    // Approvals by people who lost the right or the credential since do not count (issue 23 attack, N1).
    const stale = await staleApprovals(this.deps, "request", request);
    const outcome = await this.deps.store.addApproval(
      {
        requestId: id,
        subject: who.subject,
        note,
        at: this.deps.now(),
        required: approvalsInForce(this.deps.policy, request),
        discount: stale.length,
      },
      ({ count, approved, request: after }) => [
        {
          actor: who.subject,
          event: "request.approved",
          requestId: id,
          details: {
            approvals: count,
            approvalsRequired: after.approvalsRequired,
            status: approved ? "approved" : "pending",
            // What the approver's right is checked against again later (issue 23 attack, N1).
            approver: requesterOf(who),
            ...(stale.length > 0 ? { notCounted: stale } : {}),
            ...(note ? { note } : {}),
          },
        },
      ],
    );
    switch (outcome.kind) {
      case "not-found":
        throw new ControllerError("KH_NOT_FOUND", `no request "${id}"`);
      case "not-pending":
        throw invalidState("request", id, outcome.status, "approve");
      case "duplicate":
        throw new ControllerError(
          "KH_ALREADY_APPROVED",
          `${who.subject} has already approved request "${id}"`,
        );
      case "added":
        if (outcome.approved) this.deps.dispatcher.schedule(id);
    }
    return (await this.deps.store.getRequest(id))!;
  }

  /**
   * Fails a pending request whose requester is not entitled to it any more, and returns the refusal
   * for the approver. A request that moved on meanwhile is left as it is (the refusal still stands).
   */
  private async refuseApproval(
    who: Principal,
    request: RequestRecord,
    notEntitled: string,
  ): Promise<ControllerError> {
    const code = "KH_REQUESTER_NOT_ENTITLED";
    const message = `${request.subject} is no longer entitled to request "${request.id}": ${notEntitled}`;
    await this.deps.store.transitionRequest(
      {
        id: request.id,
        from: "pending",
        to: "failed",
        at: this.deps.now(),
        set: { error: { code, message } },
      },
      [
        {
          actor: this.actor,
          event: "request.failed",
          requestId: request.id,
          details: { code, message, stage: "approval", approver: who.subject },
        },
      ],
    );
    this.deps.log.warn({ requestId: request.id, approver: who.subject, code }, message);
    return new ControllerError(code, message);
  }

  /** Denies (or, for the requester, withdraws) a pending request. */
  async deny(who: Principal, id: string, reason: string): Promise<RequestRecord> {
    const request = await this.pendingForDecision(who, id, "deny");
    const withdrawn = sameSubject(who.subject, request.subject);
    const moved = await this.deps.store.transitionRequest(
      {
        id,
        from: "pending",
        to: "denied",
        at: this.deps.now(),
        set: { denial: { by: who.subject, reason } },
      },
      [{ actor: who.subject, event: "request.denied", requestId: id, details: { withdrawn }, reason }],
    );
    const after = (await this.deps.store.getRequest(id))!;
    if (!moved) throw invalidState("request", id, after.status, "deny");
    return after;
  }

  /** A request the caller may see: their own, or one they are entitled to decide on. */
  async get(who: Principal, id: string): Promise<RequestRecord> {
    const request = await this.deps.store.getRequest(id);
    if (!request || !canSee(this.deps.policy, who, request))
      throw new ControllerError("KH_NOT_FOUND", `no request "${id}"`);
    return request;
  }

  /** Who the policy lets approve a request the caller may see (binding subjects; see approversOf). */
  async approvers(who: Principal, id: string): Promise<{ request: RequestRecord; approvers: string[] }> {
    const request = await this.get(who, id);
    return { request, approvers: approversOf(this.deps.policy, request) };
  }

  /** Visible requests, newest first. */
  async list(who: Principal, query: { status?: RequestStatus; limit: number }): Promise<RequestRecord[]> {
    return listVisible(
      query.limit,
      (before) => this.deps.store.listRequests({ status: query.status, limit: query.limit, before }),
      (record) => canSee(this.deps.policy, who, record),
    );
  }

  /**
   * After a policy reload (issue 23, finding 3): ends every request in flight that the new policy
   * refuses, instead of waiting for the next approval or the dispatch to notice. A pending request
   * whose requester is no longer entitled, and an approved one not yet dispatched whose requester is
   * no longer entitled or that lacks the approvals its environment now requires, ends `failed` with
   * the code (`KH_REQUESTER_NOT_ENTITLED`, `KH_APPROVALS_INSUFFICIENT`), audited as `request.failed`
   * with `stage: "policy-reload"` and the new policy's digest. A pending request that merely needs
   * more approvals now stays pending: its next approval counts against the raised number. Each end
   * is compare-and-set, so a dispatch that got there first is left alone (and another replica
   * sweeping at the same time records it once). Returns how many ended.
   */
  async recheckInFlight(policyDigest: string): Promise<number> {
    let ended = 0;
    for (const request of await this.deps.store.listByStatus("pending", 1000)) {
      const reason = await requesterNotEntitled(this.deps, request);
      if (!reason) continue;
      const notAllowed: NotAllowedNow = { code: "KH_REQUESTER_NOT_ENTITLED", reason };
      if (await this.endAfterReload(request, "pending", notAllowed, policyDigest)) ended++;
    }
    for (const request of await this.deps.store.listByStatus("approved", 1000)) {
      const notAllowed = await approvedItemNotAllowed(this.deps, request);
      if (notAllowed && (await this.endAfterReload(request, "approved", notAllowed, policyDigest))) ended++;
    }
    if (ended > 0)
      this.deps.log.warn({ count: ended, policyDigest }, "policy reload ended requests it refuses");
    return ended;
  }

  private async endAfterReload(
    request: RequestRecord,
    from: "pending" | "approved",
    notAllowed: NotAllowedNow,
    policyDigest: string,
  ): Promise<boolean> {
    const { code } = notAllowed;
    const message = notAllowedMessage(request, notAllowed);
    const moved = await this.deps.store.transitionRequest(
      { id: request.id, from, to: "failed", at: this.deps.now(), set: { error: { code, message } } },
      [
        {
          actor: this.actor,
          event: "request.failed",
          requestId: request.id,
          details: { code, message, stage: "policy-reload", policyDigest, was: from },
        },
      ],
    );
    if (moved) this.deps.log.warn({ requestId: request.id, code, policyDigest }, message);
    return moved;
  }

  /** Expires every pending request past its expiry; returns how many moved. */
  async expireStale(): Promise<number> {
    const now = this.deps.now();
    let expired = 0;
    for (const request of await this.deps.store.listExpiredPending(now, 500)) {
      if (await this.expire(request, now)) expired++;
    }
    return expired;
  }

  /**
   * Starts the sweeper and dispatches requests left approved by a previous run (a crash between
   * approval and dispatch). Requests left `dispatched` by a controller that died are failed with
   * KH_DISPATCH_INTERRUPTED (`recoverInterrupted`): whether the agent ran them is unknown, and
   * re-sending could run an action twice (the agent would refuse the same jti anyway), so they end
   * in a defined state and the requester decides whether to ask again.
   *
   * `interruptedAfterMs`: how long a request must have been dispatched before it counts as
   * interrupted. 0 with a store only this controller uses (SQLite): nothing else can be
   * dispatching. With a shared store (several replicas) it must exceed the longest dispatch, so a
   * live replica's dispatch is never failed under it; the sweeper then re-checks periodically.
   */
  async start(options: {
    sweepIntervalMs: number;
    sweepArtifacts?: () => Promise<number>;
    interruptedAfterMs?: number;
  }): Promise<void> {
    const sweepArtifacts = options.sweepArtifacts;
    const interruptedAfterMs = options.interruptedAfterMs ?? 0;
    await this.recoverInterrupted(interruptedAfterMs);
    this.stopSweeper ??= startSweeper(
      async () => {
        await this.expireStale();
        if (interruptedAfterMs > 0) await this.recoverInterrupted(interruptedAfterMs);
        // Retention rides on the same unref'd, non-overlapping timer.
        if (sweepArtifacts) await sweepArtifacts();
      },
      options.sweepIntervalMs,
      this.deps.log,
    );
    for (const request of await this.deps.store.listByStatus("approved", 1000))
      this.deps.dispatcher.schedule(request.id);
  }

  /**
   * Fails every request dispatched at least `olderThanMs` ago that no dispatch of this process is
   * running, with KH_DISPATCH_INTERRUPTED; returns how many moved.
   */
  async recoverInterrupted(olderThanMs: number): Promise<number> {
    const now = this.deps.now();
    let moved = 0;
    for (const request of await this.deps.store.listByStatus("dispatched", 1000)) {
      if (request.updatedAt > now - olderThanMs || this.deps.dispatcher.isRunning(request.id)) continue;
      if (await this.interrupt(request.id, "the controller stopped while the request was dispatched"))
        moved++;
    }
    if (moved > 0) this.deps.log.warn({ count: moved }, "failed requests interrupted by a controller stop");
    return moved;
  }

  /**
   * Stops the sweeper and waits for dispatches in flight, at most `graceMs`; those still running
   * then are failed with KH_DISPATCH_INTERRUPTED, so none is left `dispatched`.
   */
  async close(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopSweeper?.();
    this.stopSweeper = undefined;
    const idle = this.deps.dispatcher.whenIdle();
    if (graceMs === Number.POSITIVE_INFINITY) return idle;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      idle.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!late) return;
    const running = this.deps.dispatcher.runningIds();
    this.deps.log.warn(
      { count: running.length, graceMs },
      "shutdown grace period over; failing dispatches in flight",
    );
    for (const id of running)
      await this.interrupt(id, `the controller shut down before the agent answered (grace ${graceMs} ms)`);
  }

  private interrupt(id: string, message: string): Promise<boolean> {
    const code = "KH_DISPATCH_INTERRUPTED";
    return this.deps.store.transitionRequest(
      { id, from: "dispatched", to: "failed", at: this.deps.now(), set: { error: { code, message } } },
      [{ actor: this.actor, event: "request.failed", requestId: id, details: { code, message } }],
    );
  }

  /** The shared checks of approve and deny, in the order that tells the caller the most useful thing. */
  private async pendingForDecision(
    who: Principal,
    id: string,
    verb: "approve" | "deny",
  ): Promise<RequestRecord> {
    const request = await this.deps.store.getRequest(id);
    if (!request) throw new ControllerError("KH_NOT_FOUND", `no request "${id}"`);
    const now = this.deps.now();
    if (request.status === "pending" && request.expiresAt <= now) await this.expire(request, now);
    const current = (await this.deps.store.getRequest(id))!;
    assertMayDecide(this.deps.policy, who, current, verb, "request");
    return current;
  }

  private expire(request: RequestRecord, now: number): Promise<boolean> {
    return this.deps.store.transitionRequest({ id: request.id, from: "pending", to: "expired", at: now }, [
      {
        actor: this.actor,
        event: "request.expired",
        requestId: request.id,
        details: { approvals: request.approvals.length, approvalsRequired: request.approvalsRequired },
      },
    ]);
  }
}
