/**
 * The TCP sockets one process holds: the tables of its network namespace
 * (`/proc/<pid>/net/tcp`, `tcp6`) joined with its open descriptors (`/proc/<pid>/fd/N` →
 * `socket:[inode]`). The tables list every socket of the namespace (the agent's own, a
 * sidecar's), so only inodes the target owns are kept. Sockets owned by nobody (TIME_WAIT)
 * therefore never appear.
 *
 * Synchronous, like the other /proc readers (see proc-read.ts): the files are generated in memory.
 */
import { readlinkSync } from "node:fs";
import { AgentError } from "../errors.js";
import { procReadError, readProcDir, readProcText } from "./proc-read.js";
import type { ProcOptions } from "./process-facts.js";
import { parseTcpTable, type TcpSocket } from "./tcp-table.js";

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

/** The inodes of the sockets among `pid`'s open descriptors. */
export function socketInodes(pid: number, { procRoot = "/proc" }: ProcOptions = {}): Set<number> {
  const inodes = new Set<number>();
  for (const fd of readProcDir(procRoot, pid, "fd")) {
    let target: string;
    try {
      target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
    } catch (err) {
      // A descriptor closed between readdir and readlink is simply gone; anything else is not.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw procReadError(err, pid, `fd/${fd}`);
    }
    const match = SOCKET_LINK.exec(target);
    if (match) inodes.add(Number(match[1]));
  }
  return inodes;
}

/** `net/tcp6` is absent when the kernel has no IPv6; that means "no IPv6 sockets". */
function readOptionalTable(procRoot: string, pid: number, file: string): string {
  try {
    return readProcText(procRoot, pid, file);
  } catch (err) {
    const cause = err instanceof AgentError ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
    if (cause?.code === "ENOENT") return "";
    throw err;
  }
}

/**
 * The TCP sockets (IPv4 and IPv6) `pid` holds open, unsorted. Descriptors are read first: a
 * socket opened after that is left out rather than half-joined.
 */
export function readTcpSockets(pid: number, { procRoot = "/proc" }: ProcOptions = {}): TcpSocket[] {
  const owned = socketInodes(pid, { procRoot });
  const tables = [
    ...parseTcpTable(readProcText(procRoot, pid, "net/tcp"), "tcp"),
    ...parseTcpTable(readOptionalTable(procRoot, pid, "net/tcp6"), "tcp6"),
  ];
  return tables.filter((socket) => socket.inode !== 0 && owned.has(socket.inode));
}
