import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../../../agent/errors.js";
import {
  catchesSignal,
  countOpenFds,
  parseStatus,
  readCmdline,
  readProcessFacts,
  readStatus,
  readUptimeSeconds,
  signalCaught,
  USER_HZ,
} from "../../../../agent/proc/process-facts.js";
import { parseStat, systemPageSize } from "../../../../agent/proc/process-stat.js";
import { makeFakeProc } from "./fake-proc.js";
import { startWorkload, type Workload } from "./workload-child.js";

describe("process facts of a real child process", () => {
  let workload: Workload;
  beforeAll(async () => {
    workload = await startWorkload({ args: ["--label", "unit test"] });
  });
  afterAll(async () => {
    await workload.stop();
  });

  it("sees that a Node process handles SIGUSR1 (its inspector signal) ", () => {
    expect(catchesSignal(workload.pid, "SIGUSR1")).toBe(true);
  });

  it("reads pid, argv, threads, fds, rss and uptime", () => {
    const facts = readProcessFacts(workload.pid);
    expect(facts.pid).toBe(workload.pid);
    expect(facts.cmdline).toEqual(workload.argv);
    // Node always runs V8 platform workers besides the main thread.
    expect(facts.threads).toBeGreaterThan(1);
    // stdio plus at least the epoll fd and the listening socket.
    expect(facts.openFds).toBeGreaterThan(2);
    expect(facts.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(facts.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(facts.uptimeSeconds).toBeLessThan(120);
  });

  it("keeps an argument with a space as one argument", () => {
    expect(readCmdline(workload.pid)).toContain("unit test");
  });

  it("takes RSS and threads from stat, agreeing with status", () => {
    // stat counts RSS in pages and status in kB, from the same counters: read a moment apart, a
    // live process's figures may differ by what it allocated in between.
    const facts = readProcessFacts(workload.pid);
    const status = readStatus(workload.pid);
    expect(facts.threads).toBe(status.threads);
    expect(facts.rssBytes! / status.rssBytes!).toBeGreaterThan(0.9);
    expect(facts.rssBytes! / status.rssBytes!).toBeLessThan(1.1);
    expect(systemPageSize()).toBe(Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" })));
  });
});

describe("a pid that does not exist", () => {
  it("is KH_TARGET_NOT_FOUND from every reader", async () => {
    const gone = await startWorkload();
    await gone.stop();
    for (const read of [readProcessFacts, readCmdline, countOpenFds]) {
      expect(() => read(gone.pid)).toThrowError(
        expect.objectContaining({ code: "KH_TARGET_NOT_FOUND" }) as unknown as Error,
      );
    }
  });
});

describe("uptime", () => {
  it("is the system uptime minus the start time in USER_HZ ticks", () => {
    const proc = makeFakeProc([{ pid: 42, ppid: 1, cmdline: ["/app"], startTicks: 123_456 }], 5000.5);
    try {
      expect(USER_HZ).toBe(100);
      expect(readUptimeSeconds(42, { procRoot: proc.root })).toBe(3765.94);
    } finally {
      proc.cleanup();
    }
  });

  it("fails with KH_ACTION_FAILED when /proc/uptime is missing", () => {
    const proc = makeFakeProc([{ pid: 42, ppid: 1, cmdline: ["/app"] }]);
    try {
      const err = (() => {
        try {
          readUptimeSeconds(42, { procRoot: `${proc.root}/42/fd` });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(AgentError);
    } finally {
      proc.cleanup();
    }
  });
});

describe("parsing", () => {
  it("reads stat fields after the last ')' so a comm with spaces and parentheses is safe", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    const stat = parseStat(`77 (evil) (name) S ${fields.slice(1).join(" ")}\n`);
    expect(stat).toEqual({
      comm: "evil) (name",
      state: "S",
      ppid: 4,
      startTicks: 22,
      threads: 20,
      rssPages: 24,
      kernelThread: false,
    });
    fields[6] = String(0x00200040);
    expect(parseStat(`2 (kthreadd) S ${fields.slice(1).join(" ")}\n`)?.kernelThread).toBe(true);
  });

  it("gives RSS in bytes from stat's pages, and none for a zombie or a kernel thread", () => {
    const proc = makeFakeProc([
      { pid: 10, ppid: 1, cmdline: ["/app"], rssPages: 300, threads: 7 },
      { pid: 11, ppid: 10, cmdline: [], state: "Z" },
      { pid: 12, ppid: 2, cmdline: [], flags: 0x00200000 },
    ]);
    try {
      const live = readProcessFacts(10, { procRoot: proc.root });
      expect(live.rssBytes).toBe(300 * systemPageSize()!);
      expect(live.threads).toBe(7);
      expect(readProcessFacts(11, { procRoot: proc.root }).rssBytes).toBeNull();
      expect(readProcessFacts(12, { procRoot: proc.root }).rssBytes).toBeNull();
    } finally {
      proc.cleanup();
    }
  });

  it("refuses a stat line without comm", () => {
    expect(parseStat("garbage")).toBeUndefined();
  });

  it("reads VmRSS in kB and Threads from status; a zombie has no RSS", () => {
    expect(parseStatus("Name:\tnode\nVmRSS:\t  51200 kB\nThreads:\t11\n")).toEqual({
      rssBytes: 51200 * 1024,
      threads: 11,
    });
    expect(parseStatus("Name:\tnode\nState:\tZ (zombie)\nThreads:\t1\n")).toEqual({
      rssBytes: null,
      threads: 1,
    });
  });
});

describe("signalCaught (the SigCgt mask of /proc/<pid>/status)", () => {
  // Node's mask: SIGINT(2), SIGUSR1(10), SIGSEGV(11), SIGTERM(15)… and real-time 33.
  const node = "Name:\tnode\nSigIgn:\t0000000001001000\nSigCgt:\t0000000100004602\n";
  it("reads signal n from bit n-1", () => {
    expect(signalCaught(node, 10)).toBe(true);
    expect(signalCaught(node, 2)).toBe(true);
    expect(signalCaught(node, 33)).toBe(true);
    expect(signalCaught(node, 12)).toBe(false);
    expect(signalCaught(node, 1)).toBe(false);
  });
  it("a process catching nothing, or a status without the line, catches nothing", () => {
    expect(signalCaught("SigCgt:\t0000000000000000\n", 10)).toBe(false);
    expect(signalCaught("Name:\tsleep\n", 10)).toBe(false);
    // SigIgn is not SigCgt: an ignored signal is not handled.
    expect(signalCaught("SigIgn:\t0000000000000200\nSigCgt:\t0000000000000000\n", 10)).toBe(false);
  });
});
