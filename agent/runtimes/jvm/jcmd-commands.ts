/**
 * The only jcmd lines the agent ever sends to a JVM: fixed templates, filled with typed values the
 * agent itself produced (a recording name and a file name it generated, a number of seconds from a
 * zod-checked param). Nothing a request chose is ever spliced in as text, and each value is
 * checked against its shape again here, so a bug upstream cannot turn into a second command or an
 * extra option (jcmd splits its argument on blanks; the attach protocol ends an argument at NUL).
 */

/** A jcmd line built by this module; the attach client accepts nothing else. */
export interface JcmdCommand {
  readonly line: string;
  /** The diagnostic command's name, for logs. */
  readonly name: string;
}

const brand = new WeakSet<JcmdCommand>();

function command(name: string, line: string): JcmdCommand {
  const cmd = Object.freeze({ name, line });
  brand.add(cmd);
  return cmd;
}

/** True for a command built here (and not an object of the same shape from elsewhere). */
export function isJcmdCommand(value: unknown): value is JcmdCommand {
  return typeof value === "object" && value !== null && brand.has(value as JcmdCommand);
}

/** A file the agent dumps into the target's own /tmp: `/tmp/keyhole-<kind>-<hex>.<ext>`. */
const TARGET_FILE = /^\/tmp\/keyhole-(heap|cpu)-[1-9][0-9]{0,9}-[0-9a-f]{16,32}\.(hprof|jfr)$/;
/** A JFR recording name the agent generated. */
const RECORDING_NAME = /^keyhole-[0-9a-f]{16,32}$/;

function checked(value: string, shape: RegExp, what: string): string {
  if (!shape.test(value))
    throw new Error(`refusing to build a jcmd line with ${what} ${JSON.stringify(value)}`);
  return value;
}

function checkedSeconds(seconds: number): number {
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 3600) {
    throw new Error(`refusing to build a jcmd line with ${seconds} seconds`);
  }
  return seconds;
}

/**
 * The events a keyhole CPU recording holds: samples of Java and native stacks, and CPU load. An
 * allow-list on top of `settings=none`, so no event that carries the environment
 * (jdk.InitialEnvironmentVariable), system properties (jdk.InitialSystemProperty), the command line
 * (jdk.JVMInformation), other processes' command lines (jdk.SystemProcess, jdk.ProcessStart) or
 * exception messages (jdk.JavaErrorThrow) can be recorded, whatever a JDK adds to its defaults.
 */
export const JFR_CPU_EVENTS: readonly string[] = [
  "+jdk.ExecutionSample#enabled=true",
  "+jdk.ExecutionSample#period=10ms",
  "+jdk.NativeMethodSample#enabled=true",
  "+jdk.NativeMethodSample#period=20ms",
  "+jdk.CPULoad#enabled=true",
  "+jdk.CPULoad#period=1s",
  "+jdk.ThreadCPULoad#enabled=true",
  "+jdk.ThreadCPULoad#period=1s",
];

/** The templates. */
export const Jcmd = {
  threadPrint: () => command("Thread.print", "Thread.print"),
  classHistogram: () => command("GC.class_histogram", "GC.class_histogram"),
  heapInfo: () => command("GC.heap_info", "GC.heap_info"),
  vmVersion: () => command("VM.version", "VM.version"),
  vmFlags: () => command("VM.flags", "VM.flags"),
  vmUptime: () => command("VM.uptime", "VM.uptime"),
  vmSystemProperties: () => command("VM.system_properties", "VM.system_properties"),
  /** Live objects only (a full GC first), as `jcmd <pid> GC.heap_dump FILE` does. */
  heapDump: (file: string) =>
    command("GC.heap_dump", `GC.heap_dump ${checked(file, TARGET_FILE, "the file name")}`),
  /**
   * An in-memory recording (disk=false: no repository in the target's /tmp) that stops by itself
   * `seconds` plus a grace period after it starts, should the agent never come back to stop it.
   */
  jfrStart: (name: string, seconds: number) =>
    command(
      "JFR.start",
      [
        "JFR.start",
        `name=${checked(name, RECORDING_NAME, "the recording name")}`,
        "settings=none",
        ...JFR_CPU_EVENTS,
        "disk=false",
        `duration=${checkedSeconds(seconds) + 30}s`,
      ].join(" "),
    ),
  /** Stops the recording and writes it to `file`. */
  jfrStopTo: (name: string, file: string) =>
    command(
      "JFR.stop",
      `JFR.stop name=${checked(name, RECORDING_NAME, "the recording name")} filename=${checked(file, TARGET_FILE, "the file name")}`,
    ),
  /** Stops and discards the recording. */
  jfrStop: (name: string) =>
    command("JFR.stop", `JFR.stop name=${checked(name, RECORDING_NAME, "the recording name")}`),
  jfrCheck: () => command("JFR.check", "JFR.check"),
} as const;
