/**
 * Parses HotSpot's `Thread.print` text into threads with their state and frames. Run on the
 * masked text: the JSON holds nothing the text does not.
 */

/** One thread of a dump. */
export interface JvmThread {
  readonly name: string;
  /** The Java thread number (`#12`); absent for the JVM's own threads. */
  readonly id?: number;
  readonly daemon: boolean;
  /** `java.lang.Thread.State` (RUNNABLE, WAITING…); absent for the JVM's own threads. */
  readonly state?: string;
  /** What the header line says it does (`waiting on condition`, `runnable`…). */
  readonly status?: string;
  /** `at` lines: class.method(file:line). */
  readonly frames: string[];
  /** `- locked`, `- waiting on`, `- parking to wait for` lines. */
  readonly monitors: string[];
}

const HEADER =
  /^"(.*)"(?: #(\d+))?( daemon)?(?: prio=\d+)?(?: os_prio=\d+)?.*? nid=\S+ ?(.*?)(?:\s+\[0x[0-9a-f]+\])?$/;

/** The threads of a `Thread.print` text, in order. */
export function parseThreadDump(text: string): JvmThread[] {
  const threads: JvmThread[] = [];
  let current: { -readonly [K in keyof JvmThread]: JvmThread[K] } | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith('"')) {
      const m = HEADER.exec(line);
      if (!m) {
        current = undefined;
        continue;
      }
      current = { name: m[1]!, daemon: m[3] !== undefined, frames: [], monitors: [] };
      if (m[2] !== undefined) current.id = Number(m[2]);
      if (m[4]) current.status = m[4].trim();
      threads.push(current);
      continue;
    }
    if (!current) continue;
    const trimmed = line.trim();
    if (trimmed.startsWith("java.lang.Thread.State: ")) current.state = trimmed.slice(24).split(" ")[0];
    else if (trimmed.startsWith("at ")) current.frames.push(trimmed.slice(3));
    else if (trimmed.startsWith("- ")) current.monitors.push(trimmed.slice(2));
    else if (trimmed === "") current = undefined;
  }
  return threads;
}
