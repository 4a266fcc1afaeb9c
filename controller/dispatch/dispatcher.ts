/**
 * Runs approved requests: sign, mark dispatched (compare-and-set, so exactly once), send, record the
 * outcome. Dispatches run after the HTTP answer for create/approve; `whenIdle()` lets tests and
 * `close()` wait for the ones in flight.
 */
import { createHash, randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { maskCountsSchema, type Output, type WireMaskCounts } from "../../protocol/request.js";
import type { ArtifactStore, DirectUpload } from "../artifacts/types.js";
import { canonicalJson } from "../audit/canonical-json.js";
import type { Inventory, InventoryAgent } from "../inventory/load-inventory.js";
import type { SigningKey } from "../keys.js";
import type { Policy } from "../policy/load-policy.js";
import { approvalsNotOnChain } from "../requests/chain-approvals.js";
import { approvedItemNotAllowed, notAllowedMessage } from "../requests/entitlement.js";
import type { ArtifactRecord, RequestRecord, Store } from "../store/types.js";
import { retryWhileUnavailable } from "../store/unavailable.js";
import type { ControllerTelemetry } from "../telemetry/index.js";
import { currentTraceparent } from "../telemetry/trace-context.js";
import type { AgentTls } from "./agent-tls.js";
import { AgentTransports } from "./agent-transport.js";
import { finishDirectUpload } from "./direct-upload.js";
import { buildClaims, type Envelope, signEnvelope } from "./envelope.js";
import { InlineBudget } from "./inline-budget.js";
import { receiveStream } from "./receive-stream.js";
import {
  type ExpectedSigner,
  type KeptSignature,
  streamCheck,
  verifyAnswer,
  verifyRefusal,
} from "./verify-answer.js";

export interface DispatcherDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly inventory: Inventory;
  readonly keys: ReadonlyMap<string, SigningKey>;
  /** The envelope's `iss`. */
  readonly controllerId: string;
  readonly timeoutMs: number;
  readonly maxResultBytes: number;
  /** Answers held in memory at once, all dispatches together (default: 64 MiB). */
  readonly inlineBudget?: InlineBudget;
  /** Where stream and s3 results are stored. */
  readonly artifacts: ArtifactStore;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** OpenTelemetry (controller/telemetry); absent means off. */
  readonly telemetry?: ControllerTelemetry;
  /** TLS towards agents (agent-tls.ts); absent: https agents are checked against the system's roots. */
  readonly agentTls?: AgentTls | undefined;
  /** How envelopes reach agents (HTTP, and NATS with `--nats`); default: HTTP only. */
  readonly transports?: AgentTransports;
}

/** An artifact ready to register, as the stream and s3 paths produce it. */
type StoredArtifact = Pick<
  ArtifactRecord,
  "filename" | "contentType" | "size" | "sha256" | "digestSource" | "location"
> & {
  readonly id: string;
  readonly httpStatus: number;
  readonly masked?: WireMaskCounts | undefined;
  readonly signed: KeptSignature | undefined;
};

/** The agent's mask counts of an answer (per rule, never values), when it sent valid ones. */
function maskCountsOf(value: unknown): WireMaskCounts | undefined {
  const parsed = maskCountsSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

type Failure = { readonly code: string; readonly message: string; readonly status?: number };

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly inflight = new Set<Promise<void>>();
  /** The request ids of the dispatches in `inflight`. */
  private readonly running = new Set<string>();
  private readonly actor: string;

  /** Shared with collections (controller/fleet/collections.ts) when the runtime passes one in. */
  readonly inlineBudget: InlineBudget;
  /** How every connection to an agent is secured; collections dial with the same. */
  readonly agentTls: AgentTls | undefined;
  /** Shared with collections too: one way to reach each agent. */
  readonly transports: AgentTransports;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.transports = deps.transports ?? new AgentTransports(undefined, deps.agentTls);
    this.inlineBudget = deps.inlineBudget ?? new InlineBudget(64 * 1024 * 1024);
    this.agentTls = deps.agentTls;
    this.actor = `controller:${deps.controllerId}`;
  }

  /** Starts dispatching an approved request in the background; failures end up on the request. */
  schedule(requestId: string): void {
    this.running.add(requestId);
    // The trace it belongs to: the request's own (remembered at creation), else the caller's.
    const telemetry = this.deps.telemetry;
    const parent = telemetry?.enabled ? (telemetry.traceOf(requestId) ?? currentTraceparent()) : undefined;
    const run = this.dispatch(requestId, parent)
      .catch((err: unknown) => this.deps.log.error({ err, requestId }, "dispatch failed unexpectedly"))
      .finally(() => {
        this.inflight.delete(run);
        this.running.delete(requestId);
      });
    this.inflight.add(run);
  }

  /** Whether this process is dispatching `requestId` right now. */
  isRunning(requestId: string): boolean {
    return this.running.has(requestId);
  }

  /** The requests this process is dispatching right now. */
  runningIds(): string[] {
    return [...this.running];
  }

  /** Resolves once no dispatch is in flight, including ones scheduled while waiting. */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Dispatches one approved request; a request that is not approved any more is left alone. */
  async dispatch(requestId: string, parentTrace?: string): Promise<void> {
    const telemetry = this.deps.telemetry;
    if (!telemetry?.enabled) return this.dispatchTraced(requestId, undefined);
    const span = telemetry.span("keyhole.dispatch", {
      parent: parentTrace,
      kind: "client",
      attributes: { "keyhole.request.id": requestId },
    });
    try {
      await this.dispatchTraced(requestId, span.traceparent);
    } finally {
      const after = await this.deps.store.getRequest(requestId).catch(() => undefined);
      span.setAttributes({
        "keyhole.action": after?.action,
        "keyhole.target": after?.target,
        "keyhole.environment": after?.environment,
        "keyhole.status": after?.status,
      });
      span.end(after?.error ? { code: after.error.code, message: after.error.message } : undefined);
      if (after && after.status !== "approved") telemetry.forgetTrace(requestId);
    }
  }

  private async dispatchTraced(requestId: string, traceparent: string | undefined): Promise<void> {
    const { store, log } = this.deps;
    const request = await store.getRequest(requestId);
    if (request?.status !== "approved") return;
    // The last gate before signing: the requester's entitlement and the approvals the environment
    // requires, under the policy and credentials in force now, since the request may have waited (for
    // approval, or across a restart) after filing (issue 16 F1; issue 23, finding 3).
    const notAllowed = await approvedItemNotAllowed(this.deps, request);
    if (notAllowed) {
      const message = notAllowedMessage(request, notAllowed);
      log.warn({ requestId, code: notAllowed.code }, message);
      await this.finish(request, "approved", { code: notAllowed.code, message }, undefined, undefined, {
        stage: "dispatch",
      });
      return;
    }
    // And the approvals the row claims must be on the audit chain, not only in a status column
    // someone with the database's credentials can set (issue 23, finding 5).
    const offChain = await approvalsNotOnChain(store, request);
    if (offChain) {
      const message = `request "${request.id}" is not signed: ${offChain}`;
      log.error({ requestId, code: "KH_APPROVALS_INSUFFICIENT" }, message);
      await this.finish(
        request,
        "approved",
        { code: "KH_APPROVALS_INSUFFICIENT", message },
        undefined,
        undefined,
        {
          stage: "dispatch",
          chain: false,
        },
      );
      return;
    }
    const agent = this.deps.inventory.agents.get(request.target);
    if (!agent) {
      const message = `target "${request.target}" is no longer in the inventory`;
      log.error({ requestId }, message);
      await this.finish(request, "approved", { code: "KH_DISPATCH_FAILED", message });
      return;
    }
    const noStream = request.output === "stream" ? this.transports.streamProblem(agent) : undefined;
    if (noStream) {
      log.warn({ requestId, code: "KH_DISPATCH_FAILED" }, noStream);
      await this.finish(request, "approved", { code: "KH_DISPATCH_FAILED", message: noStream });
      return;
    }
    // The s3 mode needs its multipart upload before sealing: the presigned URLs are in the envelope.
    let upload: DirectUpload | undefined;
    let envelope: Envelope;
    try {
      if (request.output === "s3") upload = await this.createUpload(request);
      envelope = await this.seal(request, upload && toS3Output(upload), traceparent);
    } catch (err) {
      if (upload) await this.deps.artifacts.direct?.abort(upload).catch(() => {});
      log.error({ requestId, err }, "cannot prepare the envelope");
      await this.finish(request, "approved", {
        code: (err as { code?: string }).code?.startsWith("KH_ARTIFACT")
          ? (err as { code: string }).code
          : "KH_DISPATCH_FAILED",
        message: `cannot prepare the envelope: ${(err as Error).message}`,
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
            // Without credentials or a query an inventory URL might carry: no secret enters a record.
            ...this.transports.address(agent, auditableUrl),
            jti: envelope.claims.jti,
            kid: envelope.kid,
            iat: envelope.claims.iat,
            exp: envelope.claims.exp,
            approvals: envelope.claims.approvals,
            output: request.output,
            // Where the agent may write, never the presigned URLs themselves (they are bearer rights).
            ...(upload
              ? {
                  upload: {
                    location: upload.location,
                    uploadId: upload.uploadId,
                    parts: upload.signatures.length,
                    partSize: upload.partSize,
                  },
                }
              : {}),
          },
        },
      ],
    );
    if (!moved) {
      if (upload) await this.deps.artifacts.direct?.abort(upload).catch(() => {});
      return; // another dispatcher got there first
    }
    let ok: boolean;
    if (request.output === "stream") ok = await this.runStream(request, agent, envelope);
    else if (upload) ok = await this.runDirect(request, agent, envelope, upload);
    else ok = await this.runInline(request, agent, envelope);
    log.info(
      { requestId, action: request.action, target: request.target, output: request.output, ok },
      "dispatch finished",
    );
  }

  private async runInline(
    request: RequestRecord,
    agent: InventoryAgent,
    envelope: Envelope,
  ): Promise<boolean> {
    // The answer's bytes count against the shared budget until its result is stored.
    const lease = this.inlineBudget.lease({ agent: agent.id, requester: request.subject });
    try {
      const sent = await this.transports.send(agent, envelope.jws, {
        timeoutMs: this.deps.timeoutMs,
        maxBytes: this.deps.maxResultBytes,
        lease,
        budgetBytes: this.inlineBudget.capBytes,
        expect: { jti: envelope.claims.jti, agent: agent.id },
      });
      // Nothing is recorded of an answer the agent did not sign (issue 21).
      const outcome = verifyAnswer(sent, signerOf(agent, request, envelope), "inline");
      if (outcome.ok)
        await this.finish(
          request,
          "dispatched",
          undefined,
          outcome.result,
          outcome.status,
          undefined,
          outcome.signed,
        );
      else await this.finish(request, "dispatched", outcome, undefined, outcome.status);
      return outcome.ok;
    } finally {
      lease.release();
    }
  }

  /** Streams the agent's answer into the store; registers it only once its digest checked out. */
  private async runStream(
    request: RequestRecord,
    agent: InventoryAgent,
    envelope: Envelope,
  ): Promise<boolean> {
    const id = randomUUID();
    const signer = signerOf(agent, request, envelope);
    const received = await receiveStream(
      agent.url!,
      envelope.jws,
      ({ contentType }) => this.deps.artifacts.beginWrite(artifactKey(request, id), { contentType }),
      {
        timeoutMs: this.deps.timeoutMs,
        expect: { jti: envelope.claims.jti, agent: agent.id },
        lookup: agent.lookup,
        check: streamCheck(signer),
        tls: this.agentTls,
      },
    );
    const outcome = received.ok ? received : verifyRefusal(received, signer);
    if (!outcome.ok) {
      await this.finish(request, "dispatched", outcome, undefined, outcome.status);
      return false;
    }
    return this.register(request, agent, {
      id,
      filename: outcome.filename,
      contentType: outcome.contentType,
      size: outcome.stored.size,
      sha256: outcome.sha256,
      digestSource: "controller",
      location: outcome.stored.location,
      httpStatus: outcome.status,
      masked: outcome.masked,
      signed: outcome.signed,
    });
  }

  /** The agent uploads with presigned URLs; the controller completes and checks the object. */
  private async runDirect(
    request: RequestRecord,
    agent: InventoryAgent,
    envelope: Envelope,
    upload: DirectUpload,
  ): Promise<boolean> {
    const lease = this.inlineBudget.lease({ agent: agent.id, requester: request.subject });
    const sent = await this.transports.send(agent, envelope.jws, {
      timeoutMs: this.deps.timeoutMs,
      maxBytes: 1024 * 1024,
      lease,
      budgetBytes: this.inlineBudget.capBytes,
      expect: { jti: envelope.claims.jti, agent: agent.id },
    });
    lease.release(); // the upload report is parsed; what remains is small
    // The report's digest must be the agent's signed one; finishDirectUpload then holds the object to it.
    const verified = verifyAnswer(sent, signerOf(agent, request, envelope), "s3");
    const outcome = await finishDirectUpload(this.deps.artifacts, upload, verified);
    if (!outcome.ok) {
      await this.finish(request, "dispatched", outcome, undefined, outcome.status);
      return false;
    }
    return this.register(request, agent, {
      id: upload.location.slice(upload.location.lastIndexOf("/") + 1),
      filename: safeFilename(outcome.report.filename),
      contentType: outcome.report.contentType ?? "application/octet-stream",
      size: outcome.size,
      sha256: outcome.sha256,
      digestSource: outcome.digestSource,
      location: upload.location,
      httpStatus: outcome.status,
      masked: maskCountsOf(outcome.report.masked),
      signed: verified.ok ? verified.signed : undefined,
    });
  }

  private async createUpload(request: RequestRecord): Promise<DirectUpload> {
    const direct = this.deps.artifacts.direct;
    if (!direct) throw new Error("the s3 output mode needs the S3 artifact store (--s3-bucket)");
    const env = this.deps.policy.environments.get(request.environment);
    if (!env) throw new Error(`no policy for environment "${request.environment}"`);
    // The URLs expire with the envelope: seal() uses the same ttl from the same clock.
    return direct.create(artifactKey(request, randomUUID()), {
      contentType: "application/octet-stream",
      expiresInSeconds: env.maxTtlSeconds,
      signingDate: new Date(this.deps.now()),
    });
  }

  /**
   * Registers the artifact and completes the request in one transaction; if the request moved on
   * meanwhile (it cannot today, but the store decides), the object is deleted, not left orphaned.
   */
  private async register(
    request: RequestRecord,
    agent: InventoryAgent,
    stored: StoredArtifact,
  ): Promise<boolean> {
    const at = this.deps.now();
    const artifact: ArtifactRecord = {
      id: stored.id,
      requestId: request.id,
      subject: request.subject,
      environment: request.environment,
      agent: agent.id,
      action: request.action,
      filename: stored.filename,
      contentType: stored.contentType,
      size: stored.size,
      sha256: stored.sha256,
      digestSource: stored.digestSource,
      store: this.deps.artifacts.kind,
      location: stored.location,
      createdAt: at,
      deletedAt: undefined,
      ...(stored.signed
        ? { agentSignature: stored.signed.signature, agentKey: stored.signed.publicKey }
        : {}),
    };
    const summary = {
      artifact: {
        id: artifact.id,
        filename: artifact.filename,
        contentType: artifact.contentType,
        size: artifact.size,
        sha256: artifact.sha256,
        digestSource: artifact.digestSource,
      },
    };
    const registered = await retryWhileUnavailable(
      () =>
        this.deps.store.registerArtifact(artifact, summary, [
          {
            actor: this.actor,
            event: "artifact.stored",
            requestId: request.id,
            details: {
              artifactId: artifact.id,
              agent: artifact.agent,
              action: artifact.action,
              sha256: artifact.sha256,
              digestSource: artifact.digestSource,
              size: artifact.size,
              store: artifact.store,
              location: artifact.location,
              filename: artifact.filename,
              ...signedDetail(stored.signed),
            },
          },
          {
            actor: this.actor,
            event: "request.completed",
            requestId: request.id,
            details: {
              httpStatus: stored.httpStatus,
              artifactId: artifact.id,
              output: request.output,
              ...(stored.masked ? { masked: stored.masked } : {}),
            },
          },
        ]),
      this.deps.log,
      `registering the artifact of request ${request.id}`,
    );
    if (!registered) await this.deps.artifacts.delete(artifact.location).catch(() => {});
    return registered;
  }

  private async seal(request: RequestRecord, output?: Output, traceparent?: string): Promise<Envelope> {
    const env = this.deps.policy.environments.get(request.environment);
    const key = this.deps.keys.get(request.environment);
    if (!env || !key) throw new Error(`no policy or key for environment "${request.environment}"`);
    const claims = buildClaims(request, {
      issuer: this.deps.controllerId,
      ttlSeconds: env.maxTtlSeconds,
      now: this.deps.now(),
      ...(output ? { output } : {}),
      ...(traceparent ? { traceparent } : {}),
    });
    return signEnvelope(claims, key);
  }

  private async finish(
    request: RequestRecord,
    from: "approved" | "dispatched",
    failure: Failure | undefined,
    result?: unknown,
    httpStatus?: number,
    extra?: Readonly<Record<string, unknown>>,
    signed?: KeptSignature,
  ): Promise<void> {
    const at = this.deps.now();
    const error = failure && { code: failure.code, message: failure.message };
    // An outcome cannot be asked for again (the agent refuses the same jti), so a short database
    // outage is ridden out rather than losing it.
    const { store, log } = this.deps;
    if (error) {
      await retryWhileUnavailable(
        () =>
          store.transitionRequest({ id: request.id, from, to: "failed", at, set: { error } }, [
            {
              actor: this.actor,
              event: "request.failed",
              requestId: request.id,
              details: {
                code: error.code,
                message: error.message,
                ...(httpStatus ? { httpStatus } : {}),
                ...extra,
              },
            },
          ]),
        log,
        `recording the failure of request ${request.id}`,
      );
      return;
    }
    // The result itself stays out of the audit trail; its digest proves which result was stored.
    const serialised = canonicalJson(result);
    await retryWhileUnavailable(
      () =>
        store.transitionRequest(
          {
            id: request.id,
            from,
            to: "completed",
            at,
            set: { result, ...(signed ? { answerSignature: signed.signature } : {}) },
          },
          [
            {
              actor: this.actor,
              event: "request.completed",
              requestId: request.id,
              details: {
                httpStatus,
                resultSha256: createHash("sha256").update(serialised).digest("hex"),
                resultBytes: Buffer.byteLength(serialised),
                ...maskedDetail(result),
                ...signedDetail(signed),
              },
            },
          ],
        ),
      log,
      `recording the result of request ${request.id}`,
    );
  }
}

/**
 * Who a verified answer must be signed by: the agent the envelope was addressed to, for its jti and
 * action, with the key pinned for it (verify-answer.ts).
 */
function signerOf(agent: InventoryAgent, request: RequestRecord, envelope: Envelope): ExpectedSigner {
  return { jti: envelope.claims.jti, agent: agent.id, action: request.action, publicKey: agent.publicKey };
}

/** The key a stored answer verified with, for its audit record (the signature is in the row). */
export function signedDetail(signed: KeptSignature | undefined): {
  agentKey?: string;
  agentKeyPinned?: boolean;
} {
  return signed ? { agentKey: signed.publicKey, agentKeyPinned: signed.pinned } : {};
}

/** `{masked}` for the audit record when an inline answer carried valid mask counts. */
function maskedDetail(result: unknown): { masked?: WireMaskCounts } {
  const masked = maskCountsOf((result as { masked?: unknown } | null)?.masked);
  return masked ? { masked } : {};
}

/** The store key of an artifact: grouped by environment and request, named by its id. */
function artifactKey(request: RequestRecord, artifactId: string): string {
  return `${request.environment}/${request.id}/${artifactId}`;
}

/** `url` without its user info, query and fragment, for the audit trail. */
export function auditableUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

function toS3Output(upload: DirectUpload): Output {
  return {
    mode: "s3",
    url: upload.url,
    partSize: upload.partSize,
    parts: upload.signatures.map((signature, i) => ({ partNumber: i + 1, signature })),
    tail: upload.tail,
  };
}

function safeFilename(name: string | undefined): string {
  return name?.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 200) || "artifact.bin";
}
