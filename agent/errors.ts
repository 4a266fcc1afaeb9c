/**
 * The agent's error catalogue: every refusal the agent can answer, with its HTTP status.
 * Callers branch on `code`, never on message text. docs/errors.md documents each code; a test
 * keeps the two in step.
 */
export const AGENT_ERRORS = {
  KH_MALFORMED: {
    status: 400,
    description:
      "The body is not one compact JWS, or its header or claims are unreadable or do not match the claims schema.",
  },
  KH_BAD_PARAMS: {
    status: 400,
    description: "The action's params (or the requested output mode) do not match what the action accepts.",
  },
  KH_BAD_SIGNATURE: {
    status: 401,
    description:
      "Wrong alg or typ, an extra header parameter, an unknown kid, or a signature that does not verify against the pinned keys.",
  },
  KH_EXPIRED: { status: 401, description: "`exp` is not in the future." },
  KH_NOT_YET_VALID: { status: 401, description: "`iat` is more than 30 seconds in the future." },
  KH_TTL_TOO_LONG: { status: 401, description: "`exp - iat` exceeds the agent's maximum TTL." },
  KH_CLIENT_CERT_REQUIRED: {
    status: 401,
    description:
      "The agent requires mutual TLS (`--client-ca`) and the client presented no certificate, or one its client CA did not sign; nothing was read of the request.",
  },
  KH_WRONG_AUDIENCE: { status: 403, description: "`aud` is not this agent's id." },
  KH_WRONG_ENVIRONMENT: { status: 403, description: "`env` is not this agent's environment." },
  KH_ACTION_DISABLED: { status: 403, description: "The action is unknown or not enabled on this agent." },
  KH_PATH_DENIED: { status: 403, description: "A path in the params leaves the agent's allowed roots." },
  KH_NOT_FOUND: { status: 404, description: "No such route." },
  KH_TARGET_NOT_FOUND: {
    status: 404,
    description: "The target process does not exist or cannot be chosen unambiguously.",
  },
  KH_FILE_NOT_FOUND: {
    status: 404,
    description: "The file asked for does not exist under the agent's log roots.",
  },
  KH_TARGET_UNSUPPORTED: {
    status: 422,
    description:
      "The target cannot serve this action, and nothing was sent to it: an inspector action on a process that does not handle SIGUSR1 (not a Node process), a JVM action on a process that is not a JVM, does not handle SIGQUIT, runs with -XX:+DisableAttachMechanism or under another uid; the agent never sends a signal the target does not handle.",
  },
  KH_REPLAY: {
    status: 409,
    description:
      "This `jti` was already used (by this run, or by an earlier one, from the replay log in the state dir), or the envelope was issued before this agent started, so an earlier run may have accepted it.",
  },
  KH_TOO_LARGE: {
    status: 413,
    description:
      "The body exceeds the agent's size limit; on NATS also an answer larger than the server's max_payload (use the s3 output).",
  },
  KH_UNSUPPORTED_MEDIA_TYPE: { status: 415, description: "The body is not `application/jwt`." },
  KH_REQUEST_TIMEOUT: {
    status: 408,
    description: "The client did not send its request head or body within the server's time limit.",
  },
  KH_HEADERS_TOO_LARGE: { status: 431, description: "The request line and headers exceed 8 KiB." },
  KH_SHUTTING_DOWN: {
    status: 503,
    description: "The agent is draining before it stops; retry against a running agent.",
  },
  KH_BUSY: {
    status: 429,
    description:
      "The agent cannot take the request now (replay cache full of unexpired entries, action at its concurrency limit).",
  },
  KH_RATE_LIMITED: { status: 429, description: "Too many requests." },
  KH_ACTION_FAILED: {
    status: 500,
    description:
      "The action ran and failed (a /proc file could not be read, the result exceeded its output cap).",
  },
  KH_INTERNAL: {
    status: 500,
    description: "An unexpected fault in the agent; details are in the agent's log only.",
  },
  KH_RESOURCE_GUARD: { status: 503, description: "Running the action now would put the workload at risk." },
  KH_TIMEOUT: { status: 504, description: "The action did not finish within its time limit." },
} as const satisfies Record<string, { status: number; description: string }>;

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

/** A refusal or failure with a stable code. `cause` keeps the underlying error for the log. */
export class AgentError extends Error {
  readonly code: AgentErrorCode;
  readonly status: number;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
    this.status = AGENT_ERRORS[code].status;
  }

  toBody(): { error: { code: AgentErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
