/**
 * The controller's HTTP server limits against slow and oversized clients, and the coded answer a
 * client gets when it breaks one at the HTTP layer (before any route runs).
 *
 * Fastify sets `requestTimeout` to 0 (no limit) unless told otherwise, and Node checks
 * `headersTimeout`/`requestTimeout` only every `connectionsCheckingInterval` (30 s by default):
 * without these a client sending one byte a minute would hold a socket (and a file descriptor)
 * for ever.
 */
import {
  httpServerOptions as commonHttpServerOptions,
  type HttpLayerCodes,
  type HttpLimits,
} from "../../common/http-limits.js";
import { CONTROLLER_ERRORS } from "../errors.js";

export type { HttpLimits };

export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  // Bodies are at most 64 KiB.
  requestTimeoutMs: 30_000,
  // Above a load balancer's 60 s idle timeout.
  keepAliveTimeoutMs: 65_000,
  // An artifact download keeps its socket busy.
  idleTimeoutMs: 120_000,
  // An OIDC token can be a few KiB.
  maxHeaderBytes: 16 * 1024,
});

const CONTROLLER_HTTP_CODES: HttpLayerCodes = {
  malformed: { code: "KH_BAD_REQUEST", status: CONTROLLER_ERRORS.KH_BAD_REQUEST.status },
  timeout: { code: "KH_REQUEST_TIMEOUT", status: CONTROLLER_ERRORS.KH_REQUEST_TIMEOUT.status },
  headersTooLarge: { code: "KH_HEADERS_TOO_LARGE", status: CONTROLLER_ERRORS.KH_HEADERS_TOO_LARGE.status },
};

/** The Fastify options that apply `limits` to the server it creates (the mechanism is common/http-limits.ts). */
export function httpServerOptions(limits: HttpLimits) {
  return commonHttpServerOptions(limits, CONTROLLER_HTTP_CODES);
}
