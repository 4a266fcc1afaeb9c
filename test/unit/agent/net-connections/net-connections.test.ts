import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type NetConnectionsResult,
  netConnectionsAction,
} from "../../../../agent/actions/net-connections.js";
import { AgentError } from "../../../../agent/errors.js";
import { readTcpSockets } from "../../../../agent/proc/tcp-sockets.js";
import { startWorkload, type Workload } from "../../../helpers/workload.js";
import { actionContext } from "../actions/context.js";

describe("net-connections against a real workload", () => {
  let workload: Workload;
  let client: Socket;
  beforeAll(async () => {
    workload = await startWorkload();
    client = connect(workload.port, "127.0.0.1");
    // "connect" fires when the handshake is done, which may be before the workload accept()s
    // (until then the socket is in the listen queue, owned by no fd). An answered request proves
    // the accept; keep-alive keeps the connection open for the test.
    await new Promise<void>((resolve, reject) => {
      client.once("error", reject);
      client.once("data", () => resolve());
      client.write("GET /healthz HTTP/1.1\r\nHost: workload\r\nConnection: keep-alive\r\n\r\n");
    });
  });
  afterAll(async () => {
    client?.destroy();
    await workload?.stop();
  });

  it("lists the workload's LISTEN socket and the connection the test opened, and only the workload's", async () => {
    const result = (await netConnectionsAction.run({}, actionContext(workload.pid))) as NetConnectionsResult;
    expect(result.pid).toBe(workload.pid);
    expect(result.connections[0]).toMatchObject({
      protocol: "tcp",
      local: { address: "127.0.0.1", port: workload.port },
      remote: { address: "0.0.0.0", port: 0 },
      state: "LISTEN",
    });
    expect(result.connections).toContainEqual(
      expect.objectContaining({
        state: "ESTABLISHED",
        local: { address: "127.0.0.1", port: workload.port },
        remote: { address: "127.0.0.1", port: client.localPort },
      }),
    );
    // The client end belongs to the test process, in the same network namespace: not listed.
    expect(result.connections.some((c) => c.local.port === client.localPort)).toBe(false);
    expect(result.counts.byState.LISTEN).toBe(1);
    expect(result.counts.byState.ESTABLISHED).toBeGreaterThanOrEqual(1);
    expect(result.counts.total).toBe(result.connections.length);
    expect(result.truncated).toBe(false);
    expect(result.connections.every((c) => c.inode > 0)).toBe(true);
  });

  it("refuses a vanished process with KH_TARGET_NOT_FOUND", async () => {
    await expect(netConnectionsAction.run({}, actionContext(2 ** 22 + 7))).rejects.toMatchObject({
      code: "KH_TARGET_NOT_FOUND",
    });
  });
});

describe("readTcpSockets on a fake /proc", () => {
  let procRoot: string;
  beforeAll(() => {
    procRoot = mkdtempSync(join(tmpdir(), "keyhole-net-proc-"));
    const dir = join(procRoot, "42");
    mkdirSync(join(dir, "fd"), { recursive: true });
    mkdirSync(join(dir, "net"));
    // fd links as the kernel shows them; the targets need not exist for readlink.
    symlinkSync("socket:[100]", join(dir, "fd", "3"));
    symlinkSync("/var/log/app.log", join(dir, "fd", "4"));
    symlinkSync("pipe:[7]", join(dir, "fd", "5"));
    writeFileSync(
      join(dir, "net", "tcp"),
      [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 100 1 0",
        "   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 200 1 0",
        "",
      ].join("\n"),
    );
    // No net/tcp6: a kernel without IPv6.
  });
  afterAll(() => rmSync(procRoot, { recursive: true, force: true }));

  it("keeps only the sockets among the process's fds, and treats a missing tcp6 as none", () => {
    const sockets = readTcpSockets(42, { procRoot });
    expect(sockets.map((s) => s.inode)).toEqual([100]);
  });

  it("reports a missing process as KH_TARGET_NOT_FOUND", () => {
    expect(() => readTcpSockets(43, { procRoot })).toThrow(AgentError);
  });
});
