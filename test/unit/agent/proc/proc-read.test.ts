import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  HeldRecordFile,
  procReadError,
  readRecordFile,
  readSmallFile,
  splitNul,
} from "../../../../agent/proc/proc-read.js";

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

describe("procReadError", () => {
  // The tests run as root, where permissions never refuse, so EACCES is simulated here.
  it("explains EACCES: same uid or CAP_SYS_PTRACE", () => {
    const cause = errno("EACCES");
    const err = procReadError(cause, 7, "environ");
    expect(err.code).toBe("KH_ACTION_FAILED");
    expect(err.message).toMatch(/permission denied/);
    expect(err.message).toMatch(/uid/);
    expect(err.message).toMatch(/CAP_SYS_PTRACE/);
    expect(err.cause).toBe(cause);
  });

  it("treats EPERM like EACCES", () => {
    expect(procReadError(errno("EPERM"), 7, "fd").message).toMatch(/CAP_SYS_PTRACE/);
  });

  it("maps a vanished process (ENOENT, ESRCH) to KH_TARGET_NOT_FOUND", () => {
    expect(procReadError(errno("ENOENT"), 7, "stat").code).toBe("KH_TARGET_NOT_FOUND");
    expect(procReadError(errno("ESRCH"), 7, "stat").code).toBe("KH_TARGET_NOT_FOUND");
  });

  it("keeps anything else as KH_ACTION_FAILED with its cause", () => {
    const cause = errno("EIO");
    const err = procReadError(cause, 7, "stat");
    expect(err.code).toBe("KH_ACTION_FAILED");
    expect(err.cause).toBe(cause);
  });
});

describe("splitNul", () => {
  it("splits on NUL and drops only the trailing empty entry", () => {
    expect(splitNul(Buffer.from("a\0\0b\0"))).toEqual(["a", "", "b"]);
    expect(splitNul(Buffer.from("a\0b"))).toEqual(["a", "b"]);
    expect(splitNul(Buffer.alloc(0))).toEqual([]);
  });
});

describe("readSmallFile", () => {
  it("reads the kernel's /proc and cgroup files whole", () => {
    // Stable files must read the same both ways; live counters only end where readFileSync's do.
    // maps holds many records: the kernel hands them over a page per read.
    for (const file of ["cmdline", "environ", "cgroup", "limits", "maps"].map((f) => `/proc/self/${f}`)) {
      expect(readSmallFile(file).equals(readFileSync(file)), file).toBe(true);
    }
    const live = ["/proc/self/stat", "/proc/self/status", "/proc/uptime", "/proc/self/net/tcp"];
    const cgroup = readFileSync("/proc/self/cgroup", "utf8").match(/^0::(.*)$/m)?.[1];
    for (const f of ["memory.current", "memory.stat", "cgroup.procs"]) {
      const path = `/sys/fs/cgroup${cgroup === "/" ? "" : cgroup}/${f}`;
      if (cgroup !== undefined && existsSync(path)) live.push(path);
    }
    const shape = (text: string) => ({
      end: text.at(-1),
      lines: text.split("\n").map((l) => l.split(/[\s:]/)[0]),
    });
    for (const file of live) {
      const read = readSmallFile(file).toString();
      expect(read.length, file).toBeGreaterThan(0);
      if (file.endsWith("/cgroup.procs")) continue;
      expect(shape(read), file).toEqual(shape(readFileSync(file, "utf8")));
    }
  });

  it.each([
    ["several pages, within its buffer", 10_000],
    ["beyond its buffer", 60_000],
  ])("reads a target's cmdline and environ of %s whole", async (_, size) => {
    // Each argument and variable under the kernel's 128 KiB limit for one string.
    const long = "x".repeat(size);
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 10000)", long, long], {
      env: { BIG1: "y".repeat(size), BIG2: "z".repeat(size), PATH: process.env.PATH },
      stdio: "ignore",
    });
    try {
      await new Promise((r) => setTimeout(r, 200));
      for (const file of ["cmdline", "environ"]) {
        const path = `/proc/${child.pid}/${file}`;
        const read = readSmallFile(path);
        expect(read.length, file).toBeGreaterThan(2 * size);
        expect(read.equals(readFileSync(path)), file).toBe(true);
      }
    } finally {
      child.kill();
      await once(child, "exit");
    }
  });

  it("reads regular files below, at and above its buffer's size whole", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhole-read-"));
    try {
      for (const size of [0, 1, 4095, 4096, 65_535, 65_536, 65_537, 300_000]) {
        const file = join(dir, `f${size}`);
        const content = Buffer.alloc(size, "z");
        writeFileSync(file, content);
        expect(readSmallFile(file).equals(content), String(size)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("readRecordFile (one read for files the kernel generates whole)", () => {
  it("reads the single-record /proc and cgroup files whole, as readFileSync does", () => {
    const cgroup = readFileSync("/proc/self/cgroup", "utf8").match(/^0::(.*)$/m)?.[1];
    const files = ["/proc/self/stat", "/proc/self/status", "/proc/self/cgroup", "/proc/uptime"];
    for (const f of ["memory.max", "memory.current"]) {
      const path = `/sys/fs/cgroup${cgroup === "/" ? "" : cgroup}/${f}`;
      if (cgroup !== undefined && existsSync(path)) files.push(path);
    }
    // Live values change between two reads; their lines' names and the final newline do not.
    const shape = (text: string) => text.split("\n").map((l) => l.split(/[\s:]/)[0]);
    for (const file of files) {
      const read = readRecordFile(file).toString();
      expect(read.at(-1), file).toBe("\n");
      expect(shape(read), file).toEqual(shape(readFileSync(file, "utf8")));
    }
    expect(readRecordFile("/proc/self/cgroup").equals(readFileSync("/proc/self/cgroup"))).toBe(true);
  });

  it("falls back to a whole read for a file larger than its buffer", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhole-record-"));
    try {
      for (const size of [0, 65_535, 65_536, 200_000]) {
        const file = join(dir, `f${size}`);
        writeFileSync(file, Buffer.alloc(size, "r"));
        expect(readRecordFile(file).length, String(size)).toBe(size);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("HeldRecordFile", () => {
  it("reads /proc/uptime afresh on every read through one descriptor", async () => {
    const held = new HeldRecordFile("/proc/uptime");
    try {
      const first = Number(held.read().toString().split(" ")[0]);
      await new Promise((r) => setTimeout(r, 120));
      const second = Number(held.read().toString().split(" ")[0]);
      expect(second).toBeGreaterThan(first);
      expect(held.read().toString()).toMatch(/^\d+\.\d\d \d+\.\d\d\n$/);
    } finally {
      held.close();
    }
  });

  it("reopens when its descriptor has gone bad, and throws when the file is gone", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhole-held-"));
    const file = join(dir, "value");
    writeFileSync(file, "1\n");
    const held = new HeldRecordFile(file);
    try {
      expect(held.read().toString()).toBe("1\n");
      // Closed behind its back (as a descriptor the process lost would be): the next read reopens.
      held.close();
      writeFileSync(file, "2\n");
      expect(held.read().toString()).toBe("2\n");
      held.close();
      rmSync(file);
      expect(() => held.read()).toThrowError(expect.objectContaining({ code: "ENOENT" }) as unknown as Error);
    } finally {
      held.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
