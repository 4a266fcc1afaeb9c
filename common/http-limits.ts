/**
 * HTTP server limits, shared by the agent and the controller (each sets its own values and error
 * codes): how long a client may take to send its headers and its request, how long an idle
 * keep-alive connection stays open, how large the headers may be; and the coded answer a client
 * gets when it breaks one of them at the HTTP layer (before any route runs).
 *
 * Fastify sets `requestTimeout` to 0 (no limit) unless told otherwise, and Node checks
 * `headersTimeout`/`requestTimeout` only every `connectionsCheckingInterval` (30 s by default):
 * without these settings a client sending one header byte a minute would hold a socket forever.
 */
import type { Socket } from "node:net";

export interface HttpLimits {
  /** Time to receive the whole request head. */
  readonly headersTimeoutMs: number;
  /** Time to receive the whole request, head and body (an envelope is at most 64 KiB). */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** A socket with no traffic at all is closed after this (covers the response side too). */
  readonly idleTimeoutMs: number;
  /** Largest request head (request line and headers). */
  readonly maxHeaderBytes: number;
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/** A code of a catalogue and its HTTP status. */
export interface CodedStatus {
  readonly code: string;
  readonly status: number;
}

/** The coded answers to a breach at the HTTP layer, from the server's own error catalogue. */
export interface HttpLayerCodes {
  readonly malformed: CodedStatus;
  readonly timeout: CodedStatus;
  readonly headersTooLarge: CodedStatus;
}

/** Raw HTTP/1.1 answer with a catalogue body; the socket is closed after it. */
function writeCoded(socket: Socket, { code, status }: CodedStatus, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * The Fastify options that apply `limits` to the server it creates; a client breaking one gets
 * `codes`, from the calling server's own error catalogue.
 */
export function httpServerOptions(limits: HttpLimits, codes: HttpLayerCodes) {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // How often Node looks for connections past headersTimeout/requestTimeout.
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
      if (err.code === "HPE_HEADER_OVERFLOW")
        writeCoded(socket, codes.headersTooLarge, `the request head exceeds ${limits.maxHeaderBytes} bytes`);
      else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT")
        writeCoded(socket, codes.timeout, "the request was not received in time");
      else writeCoded(socket, codes.malformed, "the request is not valid HTTP");
    },
  };
}
