/**
 * The target's own listening TCP sockets that are reachable on loopback: the network namespace's
 * tables joined with the target's socket inodes (agent/proc/tcp-sockets.ts), so a port another
 * process of the pod listens on is never mistaken for the target's inspector.
 */

import { loopbackDialAddress } from "../../../common/loopback.js";
import { readTcpSockets } from "../../proc/tcp-sockets.js";

/** One listening socket of the target, with the loopback address to dial it on. */
export interface Listener {
  readonly port: number;
  readonly inode: number;
  /** The address the socket is bound to, as the kernel shows it. */
  readonly address: string;
  /** Where the agent connects: the socket's own loopback address, or the loopback of its family. */
  readonly dial: string;
}

/** The target's LISTEN sockets bound to loopback or a wildcard address. */
export function loopbackListeners(pid: number, procRoot = "/proc"): Listener[] {
  const listeners: Listener[] = [];
  for (const socket of readTcpSockets(pid, { procRoot })) {
    if (socket.state !== "LISTEN") continue;
    const dial = loopbackDialAddress(socket.local.address);
    if (dial === undefined) continue;
    listeners.push({ port: socket.local.port, inode: socket.inode, address: socket.local.address, dial });
  }
  return listeners;
}

/** True while the target still holds a listening socket on `port`. */
export function isListeningOn(pid: number, port: number, procRoot = "/proc"): boolean {
  return readTcpSockets(pid, { procRoot }).some((s) => s.state === "LISTEN" && s.local.port === port);
}
