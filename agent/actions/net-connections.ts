/**
 * `net-connections`: the target's TCP sockets (IPv4 and IPv6) with local and remote endpoints
 * and state, from its network namespace's tables joined with its own descriptors. Addresses and
 * ports are not secrets, so nothing is masked.
 */
import { netConnectionsParams } from "../../protocol/actions.js";
import { readTcpSockets } from "../proc/tcp-sockets.js";
import type { TcpSocket } from "../proc/tcp-table.js";
import { defineAction } from "./types.js";

/**
 * Connections listed at most. A proxy can hold hundreds of thousands; `counts` still covers all
 * of them, and the most useful rows (listeners first) come first.
 */
export const MAX_CONNECTIONS = 20_000;

/** The result of `net-connections`. */
export interface NetConnectionsResult {
  readonly pid: number;
  /** Listeners first, then established, then the rest by state; each by local then remote endpoint. */
  readonly connections: TcpSocket[];
  readonly counts: { readonly total: number; readonly byState: Record<string, number> };
  /** True when there were more than MAX_CONNECTIONS and the list was cut. */
  readonly truncated: boolean;
}

/** Where a state sorts: what an operator looks for first (who listens, who talks) first. */
function stateRank(state: string): number {
  return state === "LISTEN" ? 0 : state === "ESTABLISHED" ? 1 : 2;
}

/** Orders sockets for reading: by state rank, state, local port and address, remote, inode. */
export function compareSockets(a: TcpSocket, b: TcpSocket): number {
  return (
    stateRank(a.state) - stateRank(b.state) ||
    a.state.localeCompare(b.state) ||
    a.local.port - b.local.port ||
    a.local.address.localeCompare(b.local.address) ||
    a.remote.address.localeCompare(b.remote.address) ||
    a.remote.port - b.remote.port ||
    a.protocol.localeCompare(b.protocol) ||
    a.inode - b.inode
  );
}

export const netConnectionsAction = defineAction({
  name: "net-connections",
  description: "The target's TCP sockets (IPv4 and IPv6) with local/remote address and state.",
  params: netConnectionsParams,
  outputs: ["inline"],
  limits: {
    timeoutMs: 5_000,
    maxConcurrency: 8,
    // MAX_CONNECTIONS rows of ~200 bytes of JSON each, with room to spare.
    maxOutputBytes: 8 * 1024 * 1024,
  },
  async run(_params, ctx): Promise<NetConnectionsResult> {
    ctx.signal.throwIfAborted();
    const sockets = readTcpSockets(ctx.pid, { procRoot: ctx.procRoot }).sort(compareSockets);
    const byState: Record<string, number> = {};
    for (const socket of sockets) byState[socket.state] = (byState[socket.state] ?? 0) + 1;
    return {
      pid: ctx.pid,
      connections: sockets.slice(0, MAX_CONNECTIONS),
      counts: { total: sockets.length, byState },
      truncated: sockets.length > MAX_CONNECTIONS,
    };
  },
});
