/**
 * Runs approved requests: sign, mark dispatched (compare-and-set, so exactly once), send, record the
 * outcome. Dispatches run after the HTTP answer for create/approve; `whenIdle()` lets tests and
 * `close()` wait for the ones in flight.
 */
import { createHash } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { canonicalJson } from "../audit/canonical-json.js";
import type { Inventory } from "../inventory/load-inventory.js";
import type { SigningKey } from "../keys.js";
import type { Policy } from "../policy/load-policy.js";
import type { RequestRecord, Store } from "../store/types.js";
import { buildClaims, type Envelope, signEnvelope } from "./envelope.js";
import { sendEnvelope } from "./send-envelope.js";

export interface DispatcherDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly inventory: Inventory;
  readonly keys: ReadonlyMap<string, SigningKey>;
  /** The envelope's `iss`. */
  readonly controllerId: string;
  readonly timeoutMs: number;
  readonly maxResultBytes: number;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
}

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly inflight = new Set<Promise<void>>();
  private readonly actor: string;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.actor = `controller:${deps.controllerId}`;
  }

  /** Starts dispatching an approved request in the background; failures end up on the request. */
  schedule(requestId: string): void {
    const run = this.dispatch(requestId)
      .catch((err: unknown) => this.deps.log.error({ err, requestId }, "dispatch failed unexpectedly"))
      .finally(() => this.inflight.delete(run));
    this.inflight.add(run);
  }

  /** Resolves once no dispatch is in flight, including ones scheduled while waiting. */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Dispatches one approved request; a request that is not approved any more is left alone. */
  async dispatch(requestId: string): Promise<void> {
    const { store, log } = this.deps;
    const request = await store.getRequest(requestId);
    if (request?.status !== "approved") return;
    const agent = this.deps.inventory.agents.get(request.target);
    if (!agent) {
      const message = `target "${request.target}" is no longer in the inventory`;
      log.error({ requestId }, message);
      await this.finish(request, "approved", { code: "KH_DISPATCH_FAILED", message });
      return;
    }
    let envelope: Envelope;
    try {
      envelope = await this.seal(request);
    } catch (err) {
      log.error({ requestId, err }, "cannot sign the envelope");
      await this.finish(request, "approved", {
        code: "KH_DISPATCH_FAILED",
        message: `cannot sign the envelope: ${(err as Error).message}`,
      });
      return;
    }
    const at = this.deps.now();
    const moved = await store.transitionRequest(
      {
        id: request.id,
        from: "approved",
        to: "dispatched",
        at,
        set: { jti: envelope.claims.jti, kid: envelope.kid },
      },
      [
        {
          actor: this.actor,
          event: "request.dispatched",
          requestId: request.id,
          details: {
            agent: agent.id,
            url: agent.url,
            jti: envelope.claims.jti,
            kid: envelope.kid,
            iat: envelope.claims.iat,
            exp: envelope.claims.exp,
            approvals: envelope.claims.approvals,
          },
        },
      ],
    );
    if (!moved) return; // another dispatcher got there first
    const outcome = await sendEnvelope(agent.url, envelope.jws, {
      timeoutMs: this.deps.timeoutMs,
      maxBytes: this.deps.maxResultBytes,
    });
    if (outcome.ok) await this.finish(request, "dispatched", undefined, outcome.result, outcome.status);
    else
      await this.finish(
        request,
        "dispatched",
        { code: outcome.code, message: outcome.message },
        undefined,
        outcome.status,
      );
    log.info(
      { requestId, action: request.action, target: request.target, ok: outcome.ok },
      "dispatch finished",
    );
  }

  private async seal(request: RequestRecord): Promise<Envelope> {
    const env = this.deps.policy.environments.get(request.environment);
    const key = this.deps.keys.get(request.environment);
    if (!env || !key) throw new Error(`no policy or key for environment "${request.environment}"`);
    const claims = buildClaims(request, {
      issuer: this.deps.controllerId,
      ttlSeconds: env.maxTtlSeconds,
      now: this.deps.now(),
    });
    return signEnvelope(claims, key);
  }

  private async finish(
    request: RequestRecord,
    from: "approved" | "dispatched",
    error: { code: string; message: string } | undefined,
    result?: unknown,
    httpStatus?: number,
  ): Promise<void> {
    const at = this.deps.now();
    if (error) {
      await this.deps.store.transitionRequest({ id: request.id, from, to: "failed", at, set: { error } }, [
        {
          actor: this.actor,
          event: "request.failed",
          requestId: request.id,
          details: { code: error.code, message: error.message, ...(httpStatus ? { httpStatus } : {}) },
        },
      ]);
      return;
    }
    // The result itself stays out of the audit trail; its digest proves which result was stored.
    const serialised = canonicalJson(result);
    await this.deps.store.transitionRequest({ id: request.id, from, to: "completed", at, set: { result } }, [
      {
        actor: this.actor,
        event: "request.completed",
        requestId: request.id,
        details: {
          httpStatus,
          resultSha256: createHash("sha256").update(serialised).digest("hex"),
          resultBytes: Buffer.byteLength(serialised),
        },
      },
    ]);
  }
}
