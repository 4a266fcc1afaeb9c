/** The request as the HTTP API shows it: ISO times, optional parts only when they exist. */
import type { OutputMode, RequestRecord, RequestStatus } from "../store/types.js";

export interface RequestView {
  id: string;
  status: RequestStatus;
  subject: string;
  action: string;
  target: string;
  environment: string;
  params: Record<string, unknown>;
  reason: string;
  ticket?: string;
  output: OutputMode;
  approvalsRequired: number;
  approvals: { subject: string; at: string; note?: string }[];
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  result?: unknown;
  /** In a list (a summary): a result is stored; `GET /v1/requests/:id` returns it. */
  hasResult?: true;
  error?: { code: string; message: string };
  denial?: { by: string; reason: string };
  /** The stored artifact of a completed stream or s3 request (`keyhole artifacts get ID`). */
  artifactId?: string;
  /** Present (true) when sent without approval under break-glass. */
  breakGlass?: true;
  /** The envelope's id, once dispatched: what the agent's signature on its answer names. */
  jti?: string;
  /** The agent's signature on the inline result (protocol/answer.ts); only with the result. */
  answerSignature?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Renders a stored request for the API. */
export function toRequestView(r: RequestRecord): RequestView {
  return {
    id: r.id,
    status: r.status,
    subject: r.subject,
    action: r.action,
    target: r.target,
    environment: r.environment,
    params: { ...r.params },
    reason: r.reason,
    ...(r.ticket === undefined ? {} : { ticket: r.ticket }),
    output: r.output,
    approvalsRequired: r.approvalsRequired,
    approvals: r.approvals.map((a) => ({
      subject: a.subject,
      at: iso(a.at),
      ...(a.note ? { note: a.note } : {}),
    })),
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    expiresAt: iso(r.expiresAt),
    ...(r.result === undefined ? {} : { result: r.result }),
    ...(r.hasResult ? { hasResult: true as const } : {}),
    ...(r.error === undefined ? {} : { error: { ...r.error } }),
    ...(r.denial === undefined ? {} : { denial: { ...r.denial } }),
    ...(r.artifactId === undefined ? {} : { artifactId: r.artifactId }),
    ...(r.breakGlass ? { breakGlass: true as const } : {}),
    ...(r.jti === undefined ? {} : { jti: r.jti }),
    ...(r.answerSignature === undefined ? {} : { answerSignature: r.answerSignature }),
  };
}

/**
 * A request in a list: its view without the result (issue 23, finding 6), which can be up to 16 MiB
 * each; `hasResult` says there is one to fetch with `GET /v1/requests/:id`.
 */
export function toRequestSummary(r: RequestRecord): RequestView {
  const { result: _omitted, answerSignature: _signature, ...summary } = toRequestView(r);
  return r.result !== undefined || r.hasResult ? { ...summary, hasResult: true } : summary;
}
