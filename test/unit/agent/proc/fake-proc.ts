/**
 * Writes a fake procfs tree to a temp dir: the handful of files the target readers open, in the
 * kernel's formats, for processes a test describes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakeProcess {
  readonly pid: number;
  readonly ppid: number;
  /** The kernel's name; the basename of argv[0] by default. */
  readonly comm?: string;
  /** Empty for a kernel thread. */
  readonly cmdline: readonly string[];
  /** Text of /proc/<pid>/cgroup. */
  readonly cgroup?: string;
  /** Start time in clock ticks after boot. */
  readonly startTicks?: number;
  readonly environ?: readonly string[];
  /** The state letter of stat (`S` by default; `Z` for a zombie). */
  readonly state?: string;
  /** The flags field of stat (e.g. PF_KTHREAD, 0x00200000, for a kernel thread); 0 by default. */
  readonly flags?: number;
  /** Resident pages (stat's field 24); 512 by default. */
  readonly rssPages?: number;
  /** Threads (stat's field 20); 1 by default. */
  readonly threads?: number;
}

export interface FakeProc {
  readonly root: string;
  cleanup(): void;
}

/** A stat line like the kernel writes (52 fields): comm, state, ppid, flags, threads, starttime and rss set. */
function statLine(p: FakeProcess): string {
  const comm = p.comm ?? (p.cmdline[0]?.split("/").at(-1) || "kworker/0:1").slice(0, 15);
  const fields = Array.from({ length: 50 }, () => "0");
  fields[0] = p.state ?? "S"; // field 3
  fields[1] = String(p.ppid); // field 4
  fields[6] = String(p.flags ?? 0); // field 9, flags
  fields[17] = String(p.threads ?? 1); // field 20, num_threads
  fields[19] = String(p.startTicks ?? 1000); // field 22, starttime
  fields[21] = String(p.rssPages ?? 512); // field 24, rss
  return `${p.pid} (${comm}) ${fields.join(" ")}\n`;
}

/** Creates the tree; `uptimeSeconds` goes to /proc/uptime. */
export function makeFakeProc(processes: readonly FakeProcess[], uptimeSeconds = 5000): FakeProc {
  const root = mkdtempSync(join(tmpdir(), "keyhole-fake-proc-"));
  writeFileSync(join(root, "uptime"), `${uptimeSeconds.toFixed(2)} 12345.67\n`);
  // Non-pid entries a real /proc has, which the scan must skip.
  mkdirSync(join(root, "sys"));
  writeFileSync(join(root, "meminfo"), "MemTotal: 1 kB\n");
  for (const p of processes) {
    const dir = join(root, String(p.pid));
    mkdirSync(join(dir, "fd"), { recursive: true });
    writeFileSync(join(dir, "stat"), statLine(p));
    writeFileSync(join(dir, "cmdline"), p.cmdline.map((a) => `${a}\0`).join(""));
    writeFileSync(join(dir, "status"), `Name:\tx\nVmRSS:\t   2048 kB\nThreads:\t3\n`);
    if (p.cgroup !== undefined) writeFileSync(join(dir, "cgroup"), p.cgroup);
    writeFileSync(join(dir, "environ"), (p.environ ?? []).map((e) => `${e}\0`).join(""));
    for (const fd of ["0", "1", "2"]) writeFileSync(join(dir, "fd", fd), "");
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
