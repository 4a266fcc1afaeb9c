/**
 * The controller's HTTP server limits against slow and oversized clients, and the coded answer a
 * client gets when it breaks one at the HTTP layer (before any route runs).
 *
 * Fastify sets `requestTimeout` to 0 (no limit) unless told otherwise, and Node checks
 * `headersTimeout`/`requestTimeout` only every `connectionsCheckingInterval` (30 s by default):
 * without these a client sending one byte a minute would hold a socket (and a file descriptor)
 * for ever.
 */
import type { Socket } from "node:net";
import { CONTROLLER_ERRORS, type ControllerErrorCode } from "../errors.js";

export interface HttpLimits {
  /** Time to receive the whole request head. */
  readonly headersTimeoutMs: number;
  /** Time to receive the whole request, head and body (bodies are at most 64 KiB). */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this; above a load balancer's 60 s idle timeout. */
  readonly keepAliveTimeoutMs: number;
  /** A socket with no traffic at all is closed after this (an artifact download keeps it busy). */
  readonly idleTimeoutMs: number;
  /** Largest request head (request line and headers); an OIDC token can be a few KiB. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  idleTimeoutMs: 120_000,
  maxHeaderBytes: 16 * 1024,
});

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

function codeOf(err: NodeJS.ErrnoException): ControllerErrorCode {
  if (err.code === "HPE_HEADER_OVERFLOW") return "KH_HEADERS_TOO_LARGE";
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return "KH_REQUEST_TIMEOUT";
  return "KH_BAD_REQUEST";
}

/** The Fastify options that apply `limits` to the server it creates. */
export function httpServerOptions(limits: HttpLimits) {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      // Something was already answered on this socket (a route refused before reading a body that
      // then stalled, or an earlier keep-alive request): as Node does, the socket is only closed, so
      // no answer can be taken for the next request's.
      if (socket.bytesWritten > 0) {
        socket.destroy();
        return;
      }
      const code = codeOf(err);
      const status = CONTROLLER_ERRORS[code].status;
      const message =
        code === "KH_HEADERS_TOO_LARGE"
          ? `the request head exceeds ${limits.maxHeaderBytes} bytes`
          : code === "KH_REQUEST_TIMEOUT"
            ? "the request was not received in time"
            : "the request is not valid HTTP";
      const body = JSON.stringify({ error: { code, message } });
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    },
  };
}
