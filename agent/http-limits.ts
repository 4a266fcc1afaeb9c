/**
 * The agent's HTTP server limits against slow and oversized clients, and the coded answer a client
 * gets when it breaks one at the HTTP layer (before any route runs). The mechanism is shared with
 * the controller (common/http-limits.ts); the values and codes are the agent's.
 */
import {
  httpServerOptions as commonHttpServerOptions,
  type HttpLayerCodes,
  type HttpLimits,
} from "../common/http-limits.js";
import { AGENT_ERRORS } from "./errors.js";

export type { HttpLimits };

export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  // An envelope is at most 64 KiB.
  requestTimeoutMs: 15_000,
  // The controller is the only client; its node:http agent honours the Keep-Alive timeout hint.
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxHeaderBytes: 8 * 1024,
});

const AGENT_HTTP_CODES: HttpLayerCodes = {
  malformed: { code: "KH_MALFORMED", status: AGENT_ERRORS.KH_MALFORMED.status },
  timeout: { code: "KH_REQUEST_TIMEOUT", status: AGENT_ERRORS.KH_REQUEST_TIMEOUT.status },
  headersTooLarge: { code: "KH_HEADERS_TOO_LARGE", status: AGENT_ERRORS.KH_HEADERS_TOO_LARGE.status },
};

/** The Fastify options that apply `limits` to the agent's server. */
export function httpServerOptions(limits: HttpLimits) {
  return commonHttpServerOptions(limits, AGENT_HTTP_CODES);
}
