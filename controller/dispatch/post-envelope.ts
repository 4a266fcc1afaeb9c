/**
 * POSTing one signed envelope to an agent's `/v1/requests`, shared by the inline and stream modes.
 * node:http(s) rather than fetch: the stream mode needs HTTP trailers, which fetch does not expose (Node
 * 24 included), and fetch (its WebStreams, abort signals and body mixins) was an eighth of the controller's
 * CPU profile in a 500-agent collection (bench/fleet.ts); with node:http the single-target round trip
 * fell from 5.1 to 3.7 ms in the same bench. Sockets are kept alive by Node's global agents.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isTlsError } from "../../common/tls-files.js";
import { agentUrlShapeProblem } from "../../protocol/fleet.js";
import {
  AGENT_HEADER,
  type AnswerOf,
  REQUEST_CONTENT_TYPE,
  REQUEST_ID_HEADER,
  REQUESTS_PATH,
} from "../../protocol/request.js";
import type { PinnedLookup } from "../fleet/agent-networks.js";
import type { AgentTls } from "./agent-tls.js";

export interface Posted {
  readonly url: URL;
  /** The answer's head has arrived; its body is the caller's to read. */
  readonly response: IncomingMessage;
  /** True once the deadline fired (the body read then fails with a reset, not a timeout). */
  readonly timedOut: () => boolean;
  /** Clears the deadline: the stream mode bounds the body by idle time instead. */
  readonly stopDeadline: () => void;
}

export type PostFailure = {
  readonly ok: false;
  readonly code: "KH_AGENT_TIMEOUT" | "KH_AGENT_UNREACHABLE" | "KH_AGENT_TLS" | "KH_AGENT_BAD_RESPONSE";
  readonly message: string;
};

/**
 * Sends `jws` and resolves once the answer's head arrived, or with the coded failure. One deadline of
 * `timeoutMs` covers connecting and the agent's work, and keeps running over the body until the
 * caller stops it. Never throws.
 */
export function postEnvelope(
  agentUrl: string,
  jws: string,
  options: {
    timeoutMs: number;
    headers?: Record<string, string>;
    lookup?: PinnedLookup | undefined;
    /** `--agent-ca`, `--client-cert`/`--client-key` (agent-tls.ts); unset: the system's roots. */
    tls?: AgentTls | undefined;
  },
): Promise<({ readonly ok: true } & Posted) | PostFailure> {
  // An enrolled agent's URL is scheme, host and port only (checked at enrollment; again here for
  // registrations stored before that check existed).
  const shape = options.lookup ? agentUrlShapeProblem(agentUrl) : undefined;
  if (shape)
    return Promise.resolve({
      ok: false,
      code: "KH_AGENT_UNREACHABLE",
      message: `the enrolled agent's URL is refused: ${shape}`,
    });
  const url = new URL(agentUrl);
  // The base may carry a path prefix (a proxy in front of the agent); keep it.
  url.pathname = `${url.pathname.replace(/\/$/, "")}${REQUESTS_PATH}`;
  return new Promise((resolve) => {
    let timedOut = false;
    let request: ClientRequest;
    try {
      const https = url.protocol === "https:";
      request = (https ? httpsRequest : httpRequest)(url, {
        method: "POST",
        ...(https && options.tls ? { agent: options.tls.agent } : {}),
        // An enrolled agent's host is resolved, checked against --agent-networks and dialled at
        // exactly the checked address (issue 23, finding 4).
        ...(options.lookup ? { lookup: options.lookup } : {}),
        headers: {
          ...options.headers,
          "content-type": REQUEST_CONTENT_TYPE,
          "content-length": Buffer.byteLength(jws),
        },
      });
    } catch (err) {
      resolve(unreachable(url, err));
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      request.destroy();
    }, options.timeoutMs);
    timer.unref();
    request.once("response", (response) => {
      resolve({
        ok: true,
        url,
        response,
        timedOut: () => timedOut,
        stopDeadline: () => clearTimeout(timer),
      });
    });
    request.on("error", (err) => {
      clearTimeout(timer);
      resolve(timedOut ? agentTimeout(options.timeoutMs) : unreachable(url, err));
    });
    request.end(jws);
  });
}

/** The agent did not answer (head or body) within `timeoutMs`. */
export function agentTimeout(timeoutMs: number): PostFailure {
  return { ok: false, code: "KH_AGENT_TIMEOUT", message: `the agent did not answer within ${timeoutMs} ms` };
}

/** The connection failed (refused, reset, cut mid-answer, or its TLS handshake). */
export function unreachable(url: URL, err: unknown): PostFailure {
  // A certificate that does not verify (another CA, another host's name, expired), or a client
  // certificate the agent refused: a misconfiguration or someone in the path, never retried into.
  if (isTlsError(err))
    return {
      ok: false,
      code: "KH_AGENT_TLS",
      message: `the TLS handshake with the agent at ${url.origin} failed: ${(err as NodeJS.ErrnoException).code}: ${(err as Error).message}`,
    };
  // An address --agent-networks refuses says why; other errors are named by their code.
  const reason = (err as { refusedAddress?: boolean }).refusedAddress
    ? (err as Error).message
    : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  return {
    ok: false,
    code: "KH_AGENT_UNREACHABLE",
    message: `cannot reach the agent at ${url.origin}: ${reason}`,
  };
}

/**
 * Whether an answer's head names the envelope's `jti` and the agent's id (the `x-keyhole-request-id`
 * and `x-keyhole-agent` headers): only then is it the agent's answer to this envelope, not whatever
 * another service at that address said (issue 23, finding 4).
 */
export function headNames(response: IncomingMessage, expect: AnswerOf): boolean {
  return (
    response.headers[REQUEST_ID_HEADER] === expect.jti && response.headers[AGENT_HEADER] === expect.agent
  );
}

/** An answer's head as either transport delivers it (HTTP headers, or NATS headers under the same names). */
export interface AnswerHead {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * Whether a refusal's head names the envelope's `jti` (and, if it names an agent, this one). An agent
 * names itself on a refusal only when the envelope was addressed to it, so a refusal by another
 * agent at a misrouted URL (`KH_BAD_SIGNATURE`, `KH_WRONG_AUDIENCE`) keeps its code; a service that
 * is not an agent does not echo the jti, and nothing it says is kept.
 */
export function refusalNames(response: AnswerHead, expect: AnswerOf): boolean {
  const agent = response.headers[AGENT_HEADER];
  return (
    response.headers[REQUEST_ID_HEADER] === expect.jti && (agent === undefined || agent === expect.agent)
  );
}

/** The failure recorded for an answer that does not name this envelope and agent; nothing of its body is kept. */
export function notNamed(expect: AnswerOf, status: number, code?: string): PostFailure & { status: number } {
  return {
    ok: false,
    status,
    code: "KH_AGENT_BAD_RESPONSE",
    message: `the answer (HTTP ${status}${code ? `, ${code}` : ""}) does not name this request's jti and agent "${expect.agent}", so it is not the agent's answer; nothing of it was kept`,
  };
}
