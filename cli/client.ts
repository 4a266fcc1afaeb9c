/**
 * The controller's HTTP API as the CLI uses it. The address and token come from KEYHOLE_URL and
 * KEYHOLE_TOKEN; every refusal becomes a CliError carrying the controller's KH_* code.
 */
import { CliError } from "./errors.js";

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
  approvalsRequired: number;
  approvals: ApprovalView[];
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  result?: unknown;
  error?: { code: string; message: string };
  denial?: { by: string; reason: string };
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

  static fromEnv(env: NodeJS.ProcessEnv): ControllerClient {
    return new ControllerClient(
      (env.KEYHOLE_URL || DEFAULT_CONTROLLER_URL).replace(/\/+$/, ""),
      env.KEYHOLE_TOKEN,
    );
  }

  async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    if (!this.token) {
      throw new CliError(
        "KEYHOLE_TOKEN is not set: get one with `keyhole token issue --subject …`",
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
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new CliError(
        `cannot reach the controller at ${this.baseUrl} (${reason}); is KEYHOLE_URL right?`,
        1,
        "KH_UNREACHABLE",
        {
          cause: err,
        },
      );
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
      throw new CliError(
        `${error?.code ?? `HTTP ${response.status}`}: ${error?.message ?? (text.slice(0, 200) || response.statusText)}`,
        1,
        error?.code,
      );
    }
    return json as T;
  }

  createRequest(body: {
    action: string;
    target: string;
    params: Record<string, unknown>;
    reason: string;
    ticket?: string;
  }): Promise<{ request: RequestView }> {
    return this.call("POST", "/v1/requests", body);
  }

  getRequest(id: string): Promise<{ request: RequestView }> {
    return this.call("GET", `/v1/requests/${encodeURIComponent(id)}`);
  }

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
}
