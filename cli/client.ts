/**
 * The controller's HTTP API as the CLI uses it. The address and token come from KEYHOLE_URL and
 * KEYHOLE_TOKEN; every refusal becomes a CliError carrying the controller's KH_* code.
 */
import { isTlsError } from "../common/tls-files.js";
import { CliError } from "./errors.js";
import { oneLine } from "./output.js";
import { configPath, profileName, readProfile } from "./profiles.js";
import { trustCaFromEnv } from "./trust-ca.js";

/** A fetch that failed before any answer: the reason, and for a certificate that did not verify, what to do. */
function unreachable(baseUrl: string, err: unknown): CliError {
  const cause = (err as { cause?: unknown }).cause;
  const reason = (cause as { code?: string } | undefined)?.code ?? (err as Error).message;
  const hint = isTlsError(cause)
    ? "; a controller with a certificate of a private CA needs KEYHOLE_CA=FILE (its CA's PEM)"
    : "; is KEYHOLE_URL right?";
  return new CliError(`cannot reach the controller at ${baseUrl} (${reason})${hint}`, 1, "KH_UNREACHABLE", {
    cause: err,
  });
}

export const DEFAULT_CONTROLLER_URL = "http://127.0.0.1:7400";

export interface ApprovalView {
  subject: string;
  at: string;
}

/** The controller's view of one request (docs/controller-api.md). */
export interface RequestView {
  id: string;
  status: "pending" | "approved" | "dispatched" | "completed" | "failed" | "denied" | "expired";
  subject: string;
  action: string;
  target: string;
  environment: string;
  params: Record<string, unknown>;
  reason: string;
  ticket?: string;
  /** How the result leaves the agent (controllers before artifacts omit it: inline). */
  output?: "inline" | "stream" | "s3";
  approvalsRequired: number;
  approvals: ApprovalView[];
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  /** Only in a single request's view: lists leave results out (fetch them with `getRequest`). */
  result?: unknown;
  /** In a list: a result is stored (controllers before issue 23 finding 6 sent `result` instead). */
  hasResult?: boolean;
  error?: { code: string; message: string };
  denial?: { by: string; reason: string };
  /** The stored artifact of a completed stream or s3 request. */
  artifactId?: string;
  /** Sent without approval under break-glass. */
  breakGlass?: boolean;
  /** The envelope's id, once dispatched. */
  jti?: string;
  /** The agent's signature on an inline result. */
  answerSignature?: string;
}

/** The controller's view of one stored artifact (docs/artifacts.md). */
export interface ArtifactView {
  id: string;
  requestId: string;
  subject: string;
  environment: string;
  agent: string;
  action: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  digestSource: "controller" | "agent-reported";
  store: string;
  createdAt: string;
  deletedAt?: string;
  /** The agent's signature (protocol/answer.ts) and the key the controller verified it with. */
  agentSignature?: string;
  agentKey?: string;
}

export const TERMINAL_STATUSES: ReadonlySet<RequestView["status"]> = new Set([
  "completed",
  "failed",
  "denied",
  "expired",
]);

export class ControllerClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  /** The environment the client came from: its OTEL_* variables switch tracing on. */
  private otelEnv: NodeJS.ProcessEnv = {};

  /** Where the token came from, for `keyhole whoami`. */
  credentialSource = "KEYHOLE_TOKEN";

  /**
   * KEYHOLE_URL and KEYHOLE_TOKEN, each falling back to the saved profile (`keyhole login`;
   * KEYHOLE_PROFILE or `profile` picks it), then to the local default URL.
   */
  static fromEnv(env: NodeJS.ProcessEnv, profile?: string): ControllerClient {
    trustCaFromEnv(env);
    const name = profileName(env, profile);
    const saved = env.KEYHOLE_URL && env.KEYHOLE_TOKEN ? undefined : readProfile(env, name);
    const url = (env.KEYHOLE_URL || saved?.url || DEFAULT_CONTROLLER_URL).replace(/\/+$/, "");
    // A saved token goes only to the controller it was saved for: a KEYHOLE_URL naming another one
    // (a stray .envrc, another cluster's shell) gets no token rather than this one (console attack, F2).
    const savedFor = saved?.url?.replace(/\/+$/, "");
    const savedToken = saved?.token && (!env.KEYHOLE_URL || savedFor === url) ? saved.token : undefined;
    const client = new ControllerClient(url, env.KEYHOLE_TOKEN || savedToken);
    client.credentialSource = env.KEYHOLE_TOKEN
      ? "KEYHOLE_TOKEN"
      : savedToken
        ? `profile ${name} (${configPath(env)})`
        : saved?.token
          ? `none: profile ${name}'s token is kept for ${savedFor}, not sent to KEYHOLE_URL ${url}`
          : "none";
    client.otelEnv = env;
    return client;
  }

  /** The caller as the controller sees them. */
  whoami(): Promise<{ subject: string; groups: string[] }> {
    return this.call("GET", "/v1/whoami");
  }

  /** Who the policy lets approve a request (controllers before the console: none known). */
  async approvers(id: string): Promise<string[]> {
    try {
      return (
        await this.call<{ approvers: string[] }>("GET", `/v1/requests/${encodeURIComponent(id)}/approvers`)
      ).approvers;
    } catch {
      return [];
    }
  }

  /** The console's page for a request or collection. */
  consoleLink(kind: "requests" | "collections", id: string): string {
    return `${this.baseUrl}/ui/${kind}/${encodeURIComponent(id)}`;
  }

  async call<T>(method: "GET" | "POST", path: string, body?: unknown, traceparent?: string): Promise<T> {
    if (!this.token) {
      throw new CliError(
        "not signed in: `keyhole login` (or set KEYHOLE_TOKEN to a token from `keyhole token issue --subject …`)",
        2,
        "KH_USAGE",
      );
    }
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          // W3C trace context: the controller's request span continues the CLI's trace.
          ...(traceparent ? { traceparent } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      // The message may quote an agent or a request: one line, nothing a terminal acts on.
      throw new CliError(
        oneLine(
          `${error?.code ?? `HTTP ${response.status}`}: ${error?.message ?? (text.slice(0, 200) || response.statusText)}`,
        ),
        1,
        error?.code,
      );
    }
    return json as T;
  }

  async createRequest(body: {
    action: string;
    target: string;
    params: Record<string, unknown>;
    reason: string;
    ticket?: string;
    output?: "inline" | "stream" | "s3";
    breakGlass?: boolean;
  }): Promise<{ request: RequestView }> {
    // With OpenTelemetry configured (any OTEL_* variable), the request starts its trace here: a
    // `keyhole.cli.run` span whose traceparent the controller continues through to the agent.
    const { otelConfigured, startControllerTelemetry } = await import("../controller/telemetry/index.js");
    if (!otelConfigured(this.otelEnv)) return this.call("POST", "/v1/requests", body);
    const telemetry = await startControllerTelemetry(this.otelEnv, { service: "keyhole-cli" });
    const span = telemetry.span("keyhole.cli.run", {
      kind: "client",
      attributes: { "keyhole.action": body.action, "keyhole.target": body.target },
    });
    try {
      const answer = await this.call<{ request: RequestView }>(
        "POST",
        "/v1/requests",
        body,
        span.traceparent,
      );
      span.setAttributes({
        "keyhole.request.id": answer.request.id,
        "keyhole.status": answer.request.status,
      });
      span.end();
      return answer;
    } catch (err) {
      span.end({ code: (err as CliError).code ?? "KH_CLI_FAILED", message: (err as Error).message });
      throw err;
    } finally {
      await telemetry.shutdown().catch(() => {});
    }
  }

  getRequest(id: string): Promise<{ request: RequestView }> {
    return this.call("GET", `/v1/requests/${encodeURIComponent(id)}`);
  }

  /** Summaries, newest first: no `result` (issue 23, finding 6); `getRequest` fetches one. */
  listRequests(query: { status?: string; limit?: number }): Promise<{ requests: RequestView[] }> {
    const search = new URLSearchParams();
    if (query.status) search.set("status", query.status);
    if (query.limit) search.set("limit", String(query.limit));
    const qs = search.size > 0 ? `?${search}` : "";
    return this.call("GET", `/v1/requests${qs}`);
  }

  approve(id: string, note?: string): Promise<{ request: RequestView }> {
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/approve`, note ? { note } : {});
  }

  deny(id: string, reason: string): Promise<{ request: RequestView }> {
    return this.call("POST", `/v1/requests/${encodeURIComponent(id)}/deny`, { reason });
  }

  listArtifacts(query: { limit?: number } = {}): Promise<{ artifacts: ArtifactView[] }> {
    const qs = query.limit ? `?limit=${query.limit}` : "";
    return this.call("GET", `/v1/artifacts${qs}`);
  }

  getArtifact(id: string): Promise<{ artifact: ArtifactView }> {
    return this.call("GET", `/v1/artifacts/${encodeURIComponent(id)}`);
  }

  /**
   * Opens an artifact's content. The body streams (never buffered); refusals become CliErrors like
   * every other call. No overall timeout: a multi-gigabyte download may take long.
   */
  async downloadArtifact(id: string): Promise<Response> {
    if (!this.token) {
      throw new CliError(
        "not signed in: `keyhole login` (or set KEYHOLE_TOKEN to a token from `keyhole token issue --subject …`)",
        2,
        "KH_USAGE",
      );
    }
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/v1/artifacts/${encodeURIComponent(id)}/content`, {
        headers: { authorization: `Bearer ${this.token}` },
      });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    if (!response.ok) {
      const text = await response.text();
      let error: { code?: string; message?: string } | undefined;
      try {
        error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      } catch {
        error = undefined;
      }
      // The message may quote an agent or a request: one line, nothing a terminal acts on.
      throw new CliError(
        oneLine(
          `${error?.code ?? `HTTP ${response.status}`}: ${error?.message ?? (text.slice(0, 200) || response.statusText)}`,
        ),
        1,
        error?.code,
      );
    }
    return response;
  }
}
