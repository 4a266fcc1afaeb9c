/**
 * Parsing the kernel's TCP socket tables, `/proc/<pid>/net/tcp` and `tcp6`
 * (net/ipv4/tcp_ipv4.c `get_tcp4_sock`, net/ipv6/tcp_ipv6.c `get_tcp6_sock`). One line per socket:
 *
 *   sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
 *    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 12345 …
 *
 * Addresses are the raw `__be32` words printed with `%08X`, i.e. in the host's byte order; ports
 * are already in host order. IPv6 addresses are four such words.
 */
import { endianness } from "node:os";

/** An endpoint of a socket. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** One row of a TCP table. */
export interface TcpSocket {
  readonly protocol: "tcp" | "tcp6";
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly state: string;
  readonly inode: number;
}

/** `include/net/tcp_states.h`. */
export const TCP_STATES: Readonly<Record<number, string>> = {
  1: "ESTABLISHED",
  2: "SYN_SENT",
  3: "SYN_RECV",
  4: "FIN_WAIT1",
  5: "FIN_WAIT2",
  6: "TIME_WAIT",
  7: "CLOSE",
  8: "CLOSE_WAIT",
  9: "LAST_ACK",
  10: "LISTEN",
  11: "CLOSING",
  12: "NEW_SYN_RECV",
};

const LITTLE_ENDIAN = endianness() === "LE";

/** The four bytes of one `%08X` word, in network order. */
function wordBytes(hex: string, littleEndian: boolean): number[] {
  const value = Number.parseInt(hex, 16);
  const bytes = [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  return littleEndian ? bytes.reverse() : bytes;
}

/** RFC 5952 text of 16 address bytes: lowercase, longest run (≥ 2) of zero groups as `::`. */
function formatIpv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/**
 * Decodes a hex address of a TCP table: 8 digits for IPv4, 32 for IPv6. An IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`, what a dual-stack socket shows for an IPv4 peer) is shown as the
 * IPv4 address, which is what an operator will search for.
 */
export function decodeAddress(hex: string, littleEndian = LITTLE_ENDIAN): string {
  if (!/^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32})$/.test(hex))
    throw new Error(`bad address ${JSON.stringify(hex)}`);
  const bytes: number[] = [];
  for (let i = 0; i < hex.length; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8), littleEndian));
  if (bytes.length === 4) return bytes.join(".");
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12).join(".") : formatIpv6(bytes);
}

function decodeEndpoint(text: string, littleEndian: boolean): Endpoint {
  const colon = text.indexOf(":");
  const port = Number.parseInt(text.slice(colon + 1), 16);
  if (colon < 0 || !/^[0-9A-Fa-f]{4}$/.test(text.slice(colon + 1))) {
    throw new Error(`bad endpoint ${JSON.stringify(text)}`);
  }
  return { address: decodeAddress(text.slice(0, colon), littleEndian), port };
}

/**
 * Parses a whole table. The header line and any line that does not parse (a future kernel
 * format) are skipped rather than failing the action: the rest is still worth showing.
 */
export function parseTcpTable(
  text: string,
  protocol: "tcp" | "tcp6",
  littleEndian = LITTLE_ENDIAN,
): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    // sl, local, remote, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
    if (fields.length < 10 || !/^\d+:$/.test(fields[0]!)) continue;
    try {
      const stateCode = Number.parseInt(fields[3]!, 16);
      sockets.push({
        protocol,
        local: decodeEndpoint(fields[1]!, littleEndian),
        remote: decodeEndpoint(fields[2]!, littleEndian),
        state: TCP_STATES[stateCode] ?? `UNKNOWN_${fields[3]}`,
        inode: Number(fields[9]),
      });
    } catch {
      // Deliberately skipped: see above.
    }
  }
  return sockets;
}
