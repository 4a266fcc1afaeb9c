/**
 * Serving HTTPS with Fastify, shared by the agent and the controller. Fastify hands its `http`
 * options (header timeout, header size, how often slow connections are checked) only to a plain
 * HTTP server: with `https` set they are dropped, so they are merged into the TLS server's options
 * here, and the handshake gets the same bound as the request head (a client that opens TCP and
 * never finishes its TLS hello is cut as fast as one that never finishes its headers).
 */
import type { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { TlsMaterial } from "./tls-files.js";

/** How often TLS files are checked for a rotation, unless configured otherwise. */
export const DEFAULT_TLS_RELOAD_SECONDS = 10;

/** The shape of common/http-limits.ts's httpServerOptions() that matters here. */
interface PlainServerOptions {
  readonly http: { readonly headersTimeout: number } & Record<string, unknown>;
}

/**
 * `base` (plain HTTP server options) turned into HTTPS ones serving `material.cert`/`material.key`.
 * With `material.ca`, clients are asked for a certificate signed by it; the handshake still
 * completes without one, so that a caller that cannot present one (a kubelet probe of `/healthz`)
 * gets a coded answer rather than a torn connection: whoever serves requests checks
 * `clientCertProblem()` before anything else.
 */
export function httpsServerOptions<T extends PlainServerOptions>(
  base: T,
  material: TlsMaterial,
): Omit<T, "http"> & { https: Record<string, unknown> } {
  const { http, ...rest } = base;
  return {
    ...rest,
    https: {
      ...http,
      cert: material.cert,
      key: material.key,
      ...(material.ca ? { ca: material.ca, requestCert: true, rejectUnauthorized: false } : {}),
      minVersion: "TLSv1.2",
      handshakeTimeout: http.headersTimeout,
    },
  };
}

/**
 * Why the client of `socket` is not authenticated by a certificate of the server's client CA, or
 * undefined when it is. Only meaningful on a server built with a client CA.
 */
export function clientCertProblem(socket: Socket): string | undefined {
  const tls = socket as TLSSocket;
  if (tls.encrypted !== true) return "the connection is not TLS";
  if (tls.authorized) return undefined;
  const peer = tls.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return "no client certificate was presented";
  return `the client certificate does not verify against the client CA (${String(tls.authorizationError)})`;
}

/**
 * Puts rotated material in force on a running HTTPS server: new handshakes use it at once, and idle
 * kept-alive connections (made under the old certificate, or by a client whose certificate the new
 * client CA no longer trusts) are closed, so a client's next request handshakes again. Requests in
 * flight finish on their connection.
 */
export function reloadServerTls(server: unknown, material: TlsMaterial): void {
  const https = server as HttpsServer;
  https.setSecureContext({ ...material });
  https.closeIdleConnections();
}
