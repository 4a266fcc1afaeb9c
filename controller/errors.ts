/**
 * The controller's error catalogue: every coded answer of its HTTP API and every code it writes into a
 * failed request, with its HTTP status. Callers branch on `code`, never on message text.
 * docs/controller-api.md documents each code; a test keeps the two in step.
 *
 * A failed request may also carry a code from the agent's catalogue (agent/errors.ts), passed through
 * unchanged, e.g. `KH_REPLAY` or `KH_RESOURCE_GUARD`.
 */
export const CONTROLLER_ERRORS = {
  KH_MALFORMED: { status: 400, description: "The body is not valid JSON." },
  KH_BAD_REQUEST: {
    status: 400,
    description: "The body, query or path does not match the route's schema (wrong types, unknown fields).",
  },
  KH_UNKNOWN_ACTION: {
    status: 400,
    description:
      "The action is not in the action catalogue; nothing was filed (a request, collection or trigger rule).",
  },
  KH_BAD_PARAMS: {
    status: 400,
    description:
      "The params do not match the action's schema (unknown keys, wrong types, out of range, a bad bundle entry), or the action does not answer in the requested output mode; nothing was filed.",
  },
  KH_UNAUTHENTICATED: {
    status: 401,
    description: "No bearer token, or a token that is unknown, malformed, expired or revoked.",
  },
  KH_POLICY_DENIED: {
    status: 403,
    description: "No policy binding allows this subject the action in the target's environment.",
  },
  KH_SELF_APPROVAL: { status: 403, description: "The requester cannot approve their own request." },
  KH_CSRF: {
    status: 403,
    description:
      "A console form was posted without its session's CSRF token, or from another origin; nothing was done.",
  },
  KH_REQUESTER_NOT_ENTITLED: {
    status: 403,
    description:
      "The requester is no longer entitled to the request or collection (the policy in force no longer allows it, or the credential it was filed with was revoked): the approval is refused, or the approved item is not signed, and it fails with this code.",
  },
  KH_APPROVALS_INSUFFICIENT: {
    status: 403,
    description:
      "The approved request or collection has fewer approvals than the policy in force requires of its environment now (a reload raised them after it was approved): it is not signed and ends with this code.",
  },
  KH_BREAK_GLASS_FORBIDDEN: {
    status: 403,
    description: "Break-glass was asked for in an environment whose policy does not allow it.",
  },
  KH_SELF_REVIEW: {
    status: 403,
    description: "Whoever used break-glass cannot close the review of their own use.",
  },
  KH_REVIEW_CLOSED: { status: 409, description: "The break-glass review is already closed." },
  KH_BREAK_GLASS_COOLDOWN: {
    status: 429,
    description: "This subject used break-glass within the environment's cooldown.",
  },
  KH_RATE_LIMITED: {
    status: 429,
    description: "Too many requests created by this subject in the current window.",
  },
  KH_NOT_FOUND: { status: 404, description: "No such route, or no such request visible to the caller." },
  KH_UNKNOWN_TARGET: { status: 404, description: "The target is not in the controller's inventory." },
  KH_ALREADY_APPROVED: { status: 409, description: "This approver has already approved the request." },
  KH_ENROLL_DENIED: {
    status: 403,
    description:
      "An agent tried to enroll into an environment other than its enrollment token's, or one the policy does not name.",
  },
  KH_AGENT_KEY_MISMATCH: {
    status: 409,
    description:
      "An agent tried to enroll with an id whose pinned public key is another, or without proving it holds the key it names; an operator can allow one rotation (`keyhole agent-key allow-rotation`).",
  },
  KH_AGENT_ID_TAKEN: {
    status: 409,
    description:
      "The agent id is in the inventory file, belongs to another agent that is still online, or is registered in another environment.",
  },
  KH_NO_TARGETS: { status: 404, description: "No reachable agent matches the collection's selector." },
  KH_TARGETS_UNCONFIRMED: {
    status: 400,
    description:
      "A collection's approval does not name the digest of the frozen target list the approver was shown (`targetsDigest`); nothing is approved.",
  },
  KH_TARGETS_CHANGED: {
    status: 409,
    description: "The approval names a target list (its digest) other than the collection's.",
  },
  KH_INVALID_STATE: { status: 409, description: "The request is not in a state that allows this decision." },
  KH_OUTPUT_UNSUPPORTED: {
    status: 409,
    description:
      "The output mode `s3` needs the S3 artifact store; this controller stores artifacts locally.",
  },
  KH_REQUEST_EXPIRED: {
    status: 410,
    description: "The request waited for approval past its pending expiry.",
  },
  KH_ARTIFACT_GONE: {
    status: 410,
    description: "The artifact was deleted by retention; its custody record remains.",
  },
  KH_TOO_LARGE: { status: 413, description: "The body exceeds the controller's size limit (64 KiB)." },
  KH_UNSUPPORTED_MEDIA_TYPE: { status: 415, description: "A body that is not `application/json`." },
  KH_REQUEST_TIMEOUT: {
    status: 408,
    description: "The client did not send its request head or body within the server's time limit.",
  },
  KH_HEADERS_TOO_LARGE: { status: 431, description: "The request line and headers exceed 16 KiB." },
  KH_SHUTTING_DOWN: {
    status: 503,
    description: "The controller is draining before it stops; retry against another replica or later.",
  },
  KH_STORE_UNAVAILABLE: {
    status: 503,
    description: "The controller's database cannot be read or written right now; nothing was recorded.",
  },
  KH_DISPATCH_INTERRUPTED: {
    status: 503,
    description:
      "Request failure: the controller stopped (crash or shutdown deadline) while the request was dispatched; whether the agent ran the action is unknown.",
  },
  KH_INTERNAL: { status: 500, description: "An unexpected fault; details are in the controller's log only." },
  KH_AGENT_BAD_RESPONSE: {
    status: 502,
    description: "Request failure: the agent answered something that is not a JSON result or a coded error.",
  },
  KH_AGENT_UNREACHABLE: { status: 502, description: "Request failure: the agent could not be reached." },
  KH_AGENT_UNVERIFIED: {
    status: 502,
    description:
      "Request failure: the answer (result, stream, upload report or refusal) is not signed by the agent's pinned key over this request's jti and content; nothing of it was stored.",
  },
  KH_AGENT_TLS: {
    status: 502,
    description:
      "Request failure: the TLS handshake with the agent failed (its certificate does not chain to --agent-ca, names another host or expired, or it refused the controller's client certificate); nothing was sent.",
  },
  KH_DISPATCH_FAILED: {
    status: 500,
    description: "Request failure: the controller could not build or sign the envelope.",
  },
  KH_AGENT_TIMEOUT: { status: 504, description: "Request failure: the agent did not answer in time." },
  KH_ARTIFACT_UNAVAILABLE: {
    status: 503,
    description: "The artifact's store cannot be read right now (S3 unreachable, file missing).",
  },
  KH_AGENT_STREAM_BROKEN: {
    status: 502,
    description:
      "Request failure: the agent's stream ended without its digest trailer (the agent went away mid-stream).",
  },
  KH_ARTIFACT_DIGEST_MISMATCH: {
    status: 502,
    description:
      "Request failure: the agent's digest or size does not match the bytes the controller received or the store holds.",
  },
  KH_ARTIFACT_STORE_FAILED: {
    status: 502,
    description:
      "Request failure: the artifact store failed (S3 unreachable, credentials refused, disk full, folder not writable).",
  },
  KH_BUSY: {
    status: 429,
    description:
      "Request failure: the controller already holds `--inline-results-max-mib` of agents' answers in memory; the answer was not read (retry later, or ask for the stream mode).",
  },
  KH_ARTIFACT_TOO_LARGE: {
    status: 507,
    description: "Request failure: the artifact exceeds the store's size limit (`--artifact-max-mib`).",
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type ControllerErrorCode = keyof typeof CONTROLLER_ERRORS;

/** A refusal with a stable code. `cause` keeps the underlying error for the log. */
export class ControllerError extends Error {
  readonly code: ControllerErrorCode;
  readonly status: number;

  constructor(code: ControllerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ControllerError";
    this.code = code;
    this.status = CONTROLLER_ERRORS[code].status;
  }

  toBody(): { error: { code: ControllerErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/**
 * Bad configuration, policy, inventory or key material: thrown at start-up with every problem found,
 * one per line, so an operator fixes them all in one round.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(what: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(`${what}:\n  ${problems.join("\n  ")}`, options);
    this.name = "ConfigError";
    this.problems = Object.freeze([...problems]);
  }
}
