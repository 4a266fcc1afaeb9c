import { describe, expect, it } from "vitest";
import { compareSockets } from "../../../../agent/actions/net-connections.js";
import { decodeAddress, parseTcpTable } from "../../../../agent/proc/tcp-table.js";

// Real lines as an x86-64 kernel prints them (host byte order: little-endian words).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 20 4 30 10 -1
   2: 0A00000A:D431 5DB8D822:01BB 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
   3: garbage line that a future kernel might print
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D6D8 01 00000000:00000000 00:00000000 00000000  1000        0 5002 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000001000000:0016 00000000000000000000000001000000:9C40 08 00000000:00000000 00:00000000 00000000     0        0 5003 1 0000000000000000
   3: B80D0120000000000000000001000000:01BB 0000000000000000000000000000FFFF:0000 0C 00000000:00000000 00:00000000 00000000     0        0 5004 1 0000000000000000
`;

describe("parseTcpTable", () => {
  it("decodes IPv4 rows: addresses, ports, states, inodes; skips the header and bad lines", () => {
    expect(parseTcpTable(TCP, "tcp", true)).toEqual([
      {
        protocol: "tcp",
        local: { address: "127.0.0.1", port: 8080 },
        remote: { address: "0.0.0.0", port: 0 },
        state: "LISTEN",
        inode: 4242,
      },
      {
        protocol: "tcp",
        local: { address: "127.0.0.1", port: 8080 },
        remote: { address: "127.0.0.1", port: 50000 },
        state: "ESTABLISHED",
        inode: 4243,
      },
      {
        protocol: "tcp",
        local: { address: "10.0.0.10", port: 54321 },
        remote: { address: "34.216.184.93", port: 443 },
        state: "TIME_WAIT",
        inode: 0,
      },
    ]);
  });

  it("decodes IPv6 rows, showing v4-mapped addresses as IPv4 and compressing per RFC 5952", () => {
    const rows = parseTcpTable(TCP6, "tcp6", true);
    expect(
      rows.map((r) => [r.local.address, r.local.port, r.remote.address, r.remote.port, r.state]),
    ).toEqual([
      ["::", 8080, "::", 0, "LISTEN"],
      ["127.0.0.1", 8080, "127.0.0.1", 55000, "ESTABLISHED"],
      ["::1", 22, "::1", 40000, "CLOSE_WAIT"],
      ["2001:db8::1", 443, "::ffff:0", 0, "NEW_SYN_RECV"],
    ]);
    expect(rows.every((r) => r.protocol === "tcp6")).toBe(true);
  });

  it("reads words in big-endian order on a big-endian host", () => {
    expect(decodeAddress("7F000001", false)).toBe("127.0.0.1");
    expect(decodeAddress("0100007F", true)).toBe("127.0.0.1");
    expect(decodeAddress("20010DB8000000000000000000000001", false)).toBe("2001:db8::1");
    expect(decodeAddress("00000000000000000000FFFF0A000001", false)).toBe("10.0.0.1");
  });

  it("compresses only the longest run of zero groups, and never a single one", () => {
    expect(decodeAddress("20010DB8000000010000000000000001", false)).toBe("2001:db8:0:1::1");
    expect(decodeAddress("20010DB8000100010001000100010001", false)).toBe("2001:db8:1:1:1:1:1:1");
    expect(decodeAddress("20010DB8000000010001000100010001", false)).toBe("2001:db8:0:1:1:1:1:1");
    expect(decodeAddress("00000000000000000000000000000000", false)).toBe("::");
    expect(() => decodeAddress("XYZ", true)).toThrow();
  });

  it("names an unknown state code rather than dropping the socket", () => {
    const [row] = parseTcpTable("   0: 0100007F:0050 00000000:0000 1F 0:0 0:0 0 0 0 77\n", "tcp", true);
    expect(row?.state).toBe("UNKNOWN_1F");
  });

  it("sorts listeners first, then established, then the rest; each by local port", () => {
    const rows = [...parseTcpTable(TCP, "tcp", true), ...parseTcpTable(TCP6, "tcp6", true)].sort(
      compareSockets,
    );
    expect(rows.map((r) => `${r.state}:${r.local.port}`)).toEqual([
      "LISTEN:8080",
      "LISTEN:8080",
      "ESTABLISHED:8080",
      "ESTABLISHED:8080",
      "CLOSE_WAIT:22",
      "NEW_SYN_RECV:443",
      "TIME_WAIT:54321",
    ]);
  });
});
