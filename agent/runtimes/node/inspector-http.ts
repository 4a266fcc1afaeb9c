/**
 * The inspector's HTTP discovery endpoint (`/json/list`), asked on loopback only, with a short
 * timeout and a size bound: the answer names the WebSocket path of the target's session.
 */
import { request } from "node:http";
import * as z from "zod";
import { isLoopbackHost, isWildcardHost } from "../../../common/loopback.js";

/** An inspector answers `/json/list` with a few hundred bytes; anything far larger is not one. */
const MAX_LIST_BYTES = 64 * 1024;

const listSchema = z
  .array(
    z.looseObject({
      id: z.string(),
      type: z.string(),
      webSocketDebuggerUrl: z.string().optional(),
    }),
  )
  .min(1);

/** One debuggable target the inspector lists. */
export type InspectorTarget = z.infer<typeof listSchema>[number];

/**
 * GETs `http://<host>:<port>/json/list`. Resolves to the list when the socket answers like a Node
 * inspector, to undefined when it answers otherwise or not at all within `timeoutMs` (a port that
 * is some other server, or an inspector still starting).
 */
export function fetchInspectorTargets(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<InspectorTarget[] | undefined> {
  if (!isLoopbackHost(host)) return Promise.reject(new Error(`refusing non-loopback inspector host ${host}`));
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/json/list", method: "GET", timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_LIST_BYTES) {
          req.destroy();
          resolve(undefined);
          return;
        }
        parts.push(chunk);
      });
      res.on("end", () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const parsed = listSchema.safeParse(JSON.parse(Buffer.concat(parts).toString("utf8")));
          resolve(parsed.success ? parsed.data : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/**
 * The WebSocket URL to dial for a listed target: its path on `dialHost:port`. Refuses a URL whose
 * host is neither loopback nor a wildcard (an inspector bound elsewhere, or an answer that tries
 * to send the agent somewhere else) and one that names another port.
 */
export function debuggerUrl(target: InspectorTarget, dialHost: string, port: number): string {
  const raw = target.webSocketDebuggerUrl;
  if (raw === undefined) throw new Error("the inspector lists no WebSocket URL (a debugger is attached?)");
  const url = new URL(raw);
  if (url.protocol !== "ws:") throw new Error(`unexpected inspector URL scheme ${url.protocol}`);
  if (!isLoopbackHost(url.hostname) && !isWildcardHost(url.hostname)) {
    throw new Error(`refusing non-loopback inspector URL host ${url.hostname}`);
  }
  if (Number(url.port || 80) !== port) throw new Error(`inspector URL names port ${url.port}, not ${port}`);
  const host = dialHost.includes(":") ? `[${dialHost}]` : dialHost;
  return `ws://${host}:${port}${url.pathname}`;
}
