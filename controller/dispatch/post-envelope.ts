/**
 * POSTing one signed envelope to an agent's `/v1/requests`, shared by the inline and stream modes.
 * node:http(s) rather than fetch: the stream mode needs HTTP trailers, which fetch does not expose (Node
 * 24 included), and fetch (its WebStreams, abort signals and body mixins) was an eighth of the controller's
 * CPU profile in a 500-agent collection (bench/fleet.ts); with node:http the single-target round trip
 * fell from 5.1 to 3.7 ms in the same bench. Sockets are kept alive by Node's global agents.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { REQUEST_CONTENT_TYPE, REQUESTS_PATH } from "../../protocol/request.js";

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
  readonly code: "KH_AGENT_TIMEOUT" | "KH_AGENT_UNREACHABLE";
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
  options: { timeoutMs: number; headers?: Record<string, string> },
): Promise<({ readonly ok: true } & Posted) | PostFailure> {
  const url = new URL(agentUrl);
  // The base may carry a path prefix (a proxy in front of the agent); keep it.
  url.pathname = `${url.pathname.replace(/\/$/, "")}${REQUESTS_PATH}`;
  return new Promise((resolve) => {
    let timedOut = false;
    let request: ClientRequest;
    try {
      request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
        method: "POST",
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

/** The connection failed (refused, reset, cut mid-answer). */
export function unreachable(url: URL, err: unknown): PostFailure {
  const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return {
    ok: false,
    code: "KH_AGENT_UNREACHABLE",
    message: `cannot reach the agent at ${url.origin}: ${reason}`,
  };
}
