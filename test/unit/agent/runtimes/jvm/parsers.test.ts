/**
 * The JVM adapter's pure parts: the jcmd templates (nothing else can be built), the perf data
 * reader, runtime detection, and the parsers of Thread.print, GC.class_histogram, VM.* and
 * /proc/<pid>/status, on texts in the shape JDK 17 prints them.
 */
import { describe, expect, it } from "vitest";
import { classifyRuntime } from "../../../../../agent/proc/runtime-kind.js";
import { parseTargetStatus } from "../../../../../agent/runtimes/jvm/attach-session.js";
import { parseClassHistogram } from "../../../../../agent/runtimes/jvm/class-histogram.js";
import { isJcmdCommand, Jcmd } from "../../../../../agent/runtimes/jvm/jcmd-commands.js";
import { parsePerfStrings } from "../../../../../agent/runtimes/jvm/perf-data.js";
import { parseThreadDump } from "../../../../../agent/runtimes/jvm/thread-dump.js";
import {
  parseHeapUsed,
  parseSystemProperties,
  parseUptime,
} from "../../../../../agent/runtimes/jvm/vm-text.js";

describe("jcmd templates", () => {
  it("build the fixed lines, and only values of the agent's own shapes", () => {
    expect(Jcmd.heapDump("/tmp/keyhole-heap-42-0123456789abcdef.hprof").line).toBe(
      "GC.heap_dump /tmp/keyhole-heap-42-0123456789abcdef.hprof",
    );
    const start = Jcmd.jfrStart("keyhole-0123456789abcdef", 5).line;
    expect(start).toMatch(
      /^JFR\.start name=keyhole-0123456789abcdef settings=none \+jdk\.ExecutionSample#enabled=true /,
    );
    expect(start).toMatch(/ disk=false duration=35s$/);
    expect(start).not.toMatch(/Environment|SystemProperty|JVMInformation|SystemProcess/);
    for (const bad of [
      "/tmp/keyhole-heap-42-0123456789abcdef.hprof -all",
      "/etc/passwd",
      "/tmp/../etc/keyhole-heap-42-0123456789abcdef.hprof",
      "/tmp/keyhole-heap-42-0123456789abcdef.hprof\0VM.exit",
    ]) {
      expect(() => Jcmd.heapDump(bad), bad).toThrow(/refusing/);
    }
    expect(() => Jcmd.jfrStop("x filename=/etc/cron.d/x")).toThrow(/refusing/);
    expect(() => Jcmd.jfrStart("keyhole-0123456789abcdef", 0.5)).toThrow(/refusing/);
  });

  it("only objects built by the templates count as commands", () => {
    expect(isJcmdCommand(Jcmd.threadPrint())).toBe(true);
    expect(isJcmdCommand({ name: "VM.exit", line: "VM.exit" })).toBe(false);
  });
});

describe("perf data", () => {
  /** A little-endian perf data file with one long and one string entry. */
  function perfFile(capabilities: string): Buffer {
    const entry = (name: string, type: number, data: Buffer) => {
      const nameBytes = Buffer.from(`${name}\0`, "latin1");
      const length = 20 + nameBytes.length + data.length;
      const head = Buffer.alloc(20);
      head.writeInt32LE(length, 0);
      head.writeInt32LE(20, 4);
      head.writeInt32LE(type === 0x42 ? data.length : 0, 8);
      head[12] = type;
      head.writeInt32LE(20 + nameBytes.length, 16);
      return Buffer.concat([head, nameBytes, data]);
    };
    const entries = [
      entry("sun.rt.createVmBeginTime", 0x4a, Buffer.alloc(8)),
      entry("sun.rt.jvmCapabilities", 0x42, Buffer.from(`${capabilities}\0`, "latin1")),
    ];
    const prologue = Buffer.alloc(32);
    prologue.writeUInt32BE(0xcafec0c0, 0);
    prologue[4] = 1;
    prologue[5] = 2;
    prologue.writeInt32LE(32, 24);
    prologue.writeInt32LE(entries.length, 28);
    return Buffer.concat([prologue, ...entries]);
  }

  it("reads the capabilities string (attach on or off)", () => {
    expect(parsePerfStrings(perfFile("1100"))?.get("sun.rt.jvmCapabilities")).toBe("1100");
    expect(parsePerfStrings(perfFile("0100"))?.get("sun.rt.jvmCapabilities")).toBe("0100");
    expect(parsePerfStrings(Buffer.from("not perf data at all, not at all!!"))).toBeUndefined();
  });
});

describe("runtime detection", () => {
  it("names the runtime and its evidence", () => {
    expect(
      classifyRuntime("7f0 r-xp 0 08:01 1 /usr/lib/jvm/java-17/lib/server/libjvm.so\n", "/usr/bin/java"),
    ).toEqual({ runtime: "jvm", evidence: "maps: /usr/lib/jvm/java-17/lib/server/libjvm.so" });
    expect(classifyRuntime("7f0 r-xp 0 08:01 1 /usr/lib/libc.so.6\n", "/usr/local/bin/node")).toEqual({
      runtime: "node",
      evidence: "exe: /usr/local/bin/node",
    });
    expect(
      classifyRuntime("7f0 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libnode.so.109\n", "/usr/bin/nodejs")
        .runtime,
    ).toBe("node");
    expect(classifyRuntime("", "/usr/bin/sleep").runtime).toBe("unknown");
    expect(classifyRuntime(undefined, undefined).runtime).toBe("unknown");
    // A `java` launcher whose maps cannot be read is still taken for a JVM by its exe.
    expect(classifyRuntime(undefined, "/opt/jdk/bin/java").runtime).toBe("jvm");
  });
});

describe("status", () => {
  it("takes the effective ids, the innermost NSpid and the SIGQUIT bit", () => {
    const status =
      "Name:\tjava\nUid:\t1000\t1001\t1000\t1000\nGid:\t2000\t2001\t2000\t2000\nNSpid:\t4242\t7\nSigCgt:\t2000000181005ccf\n";
    expect(parseTargetStatus(status, 4242)).toEqual({ euid: 1001, egid: 2001, nspid: 7, catchesQuit: true });
    expect(parseTargetStatus(status.replace("ccf", "cc0"), 4242).catchesQuit).toBe(false);
  });
});

const THREAD_DUMP = `2026-12-02 16:36:30
Full thread dump OpenJDK 64-Bit Server VM (17.0.15+6-Debian-1deb12u1 mixed mode, sharing):

Threads class SMR info:
_java_thread_list=0x00007f7dbc001f70, length=12, elements={
0x00007f7e40018090
}

"main" #1 prio=5 os_prio=0 cpu=120.50ms elapsed=3.20s tid=0x00007f7e40018090 nid=0x2ebd waiting on condition  [0x00007f7e46ffe000]
   java.lang.Thread.State: TIMED_WAITING (sleeping)
\tat java.lang.Thread.sleep(java.base@17.0.15/Native Method)
\tat SecretHolder.main(SecretHolder.java:52)

"keyhole "waiter"" #13 daemon prio=5 os_prio=0 cpu=0.10ms elapsed=3.10s tid=0x00007f7e40189000 nid=0x2ecc in Object.wait()  [0x00007f7e0c1fe000]
   java.lang.Thread.State: WAITING (on object monitor)
\tat java.lang.Object.wait(java.base@17.0.15/Native Method)
\t- waiting on <0x00000000ff8a2b10> (a java.lang.Object)
\tat java.lang.Object.wait(java.base@17.0.15/Object.java:338)
\t- locked <0x00000000ff8a2b10> (a java.lang.Object)

"VM Thread" os_prio=0 cpu=5.12ms elapsed=3.20s tid=0x00007f7e40090c00 nid=0x2ec3 runnable

JNI global refs: 15, weak refs: 0
`;

describe("Thread.print", () => {
  it("gives each thread its name, number, daemon flag, state, frames and monitors", () => {
    const threads = parseThreadDump(THREAD_DUMP);
    expect(threads.map((t) => t.name)).toEqual(["main", 'keyhole "waiter"', "VM Thread"]);
    expect(threads[0]).toMatchObject({
      id: 1,
      daemon: false,
      state: "TIMED_WAITING",
      status: "waiting on condition",
    });
    expect(threads[0]!.frames).toEqual([
      "java.lang.Thread.sleep(java.base@17.0.15/Native Method)",
      "SecretHolder.main(SecretHolder.java:52)",
    ]);
    expect(threads[1]).toMatchObject({ id: 13, daemon: true, state: "WAITING" });
    expect(threads[1]!.monitors).toEqual([
      "waiting on <0x00000000ff8a2b10> (a java.lang.Object)",
      "locked <0x00000000ff8a2b10> (a java.lang.Object)",
    ]);
    expect(threads[2]).toMatchObject({ daemon: false, status: "runnable", frames: [] });
    expect(threads[2]!.id).toBeUndefined();
    expect(threads[2]!.state).toBeUndefined();
  });
});

describe("GC.class_histogram", () => {
  const text = ` num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:          6012         561448  [B (java.base@17.0.15)
   2:          5786         138864  java.lang.String (java.base@17.0.15)
   3:           778          94432  java.lang.Class (java.base@17.0.15)
   4:            12            384  SecretHolder$$Lambda$14/0x0000000800c03000
Total         12588         795128
`;
  it("returns the first rows up to the limit and the totals of all", () => {
    const h = parseClassHistogram(text, 2);
    expect(h.rows).toEqual([
      { rank: 1, instances: 6012, bytes: 561448, className: "[B", module: "java.base@17.0.15" },
      { rank: 2, instances: 5786, bytes: 138864, className: "java.lang.String", module: "java.base@17.0.15" },
    ]);
    expect(h).toMatchObject({ totalClasses: 4, totalInstances: 12588, totalBytes: 795128 });
    expect(parseClassHistogram(text, 1000).rows[3]).toEqual({
      rank: 4,
      instances: 12,
      bytes: 384,
      className: "SecretHolder$$Lambda$14/0x0000000800c03000",
    });
  });
});

describe("VM.* texts", () => {
  it("system properties: escapes undone, the first unescaped = or : splits", () => {
    const text =
      "#Wed Dec 02 16:36:30 UTC 2026\njava.class.path=/tmp/keyhole-jvm-workload\\:/opt/x.jar\napp.db.password=prop\\=S3cr3t\\u00e9\nline.separator=\\n\n";
    expect(parseSystemProperties(text)).toEqual([
      ["java.class.path", "/tmp/keyhole-jvm-workload:/opt/x.jar"],
      ["app.db.password", "prop=S3cr3té"],
      ["line.separator", "\n"],
    ]);
  });
  it("uptime in seconds", () => {
    expect(parseUptime("12.345 s\n")).toBe(12.345);
    expect(parseUptime("?")).toBeNull();
  });
  it("used heap of each collector's GC.heap_info, Metaspace left out", () => {
    expect(
      parseHeapUsed(
        " garbage-first heap   total 65536K, used 7943K [0x0, 0x1)\n  region size 1024K\n Metaspace       used 9026K, committed 9216K\n  class space    used 1069K\n",
      ),
    ).toBe(7943 * 1024);
    expect(
      parseHeapUsed(
        " def new generation   total 4928K, used 1000K [0x0)\n  eden space 4416K,  22% used [0x0)\n tenured generation   total 10944K, used 2000K [0x0)\n",
      ),
    ).toBe(3000 * 1024);
    expect(parseHeapUsed(" ZHeap           used 8M, capacity 20M, max capacity 512M\n")).toBe(8 * 1024 ** 2);
    expect(parseHeapUsed("Shenandoah Heap\n 512M max, 512M soft max, 20M committed, 8692K used\n")).toBe(
      8692 * 1024,
    );
    expect(parseHeapUsed("nothing")).toBeNull();
  });
});
