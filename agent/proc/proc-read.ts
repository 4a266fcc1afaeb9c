/**
 * Reading one process's /proc files, with the failures turned into coded errors: a pid that
 * vanished is KH_TARGET_NOT_FOUND, a permission refusal is KH_ACTION_FAILED with the fix.
 *
 * The files under /proc/<pid>/ are small and generated in memory by the kernel, so they are read
 * with the synchronous fs API: a direct read(2) costs microseconds, whereas the async API queues
 * each read on libuv's threadpool and adds a thread hop per file. process-info reads about a
 * dozen of them per request and the agent is benchmarked on requests per second.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { AgentError } from "../errors.js";

/** The fs error codes that mean "the process (or its file) is gone". */
const GONE = new Set(["ENOENT", "ESRCH", "ENOTDIR"]);
/** The fs error codes that mean "the kernel refuses to show us this". */
const DENIED = new Set(["EACCES", "EPERM"]);

function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") {
    return err.code;
  }
  return undefined;
}

/**
 * Maps an fs error raised while reading `file` of process `pid` to the agent's catalogue.
 * Anything unexpected is KH_ACTION_FAILED too, with the original error as `cause` for the log.
 */
export function procReadError(err: unknown, pid: number, file: string): AgentError {
  const code = errorCode(err);
  if (code && GONE.has(code)) {
    return new AgentError("KH_TARGET_NOT_FOUND", `process ${pid} does not exist (or exited)`, {
      cause: err,
    });
  }
  if (code && DENIED.has(code)) {
    return new AgentError(
      "KH_ACTION_FAILED",
      `cannot read ${file} of process ${pid}: permission denied; the agent must run as the target's uid or hold CAP_SYS_PTRACE`,
      { cause: err },
    );
  }
  return new AgentError("KH_ACTION_FAILED", `cannot read ${file} of process ${pid}`, { cause: err });
}

/** One scratch buffer for every small read: the reads are synchronous, so they never overlap. */
const scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Reads a small file with open + read into a reused buffer + close. readFileSync would add an
 * fstat (useless: /proc files report size 0) and a buffer per call; this is ~30% cheaper per
 * /proc file. A file that fills the buffer (a huge cmdline or environ) is re-read whole.
 *
 * It reads until a read returns 0: a short read is not the end of a /proc file. Files of many
 * records (net/tcp, maps) come at most a page per read, however large the buffer.
 * Throws the raw fs error.
 */
export function readSmallFile(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    let length = 0;
    for (;;) {
      const n = readSync(fd, scratch, length, scratch.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === scratch.length) return readFileSync(path);
    }
    return Buffer.from(scratch.subarray(0, length));
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a file the kernel generates whole on every read: a seq_file with a single record
 * (/proc/<pid>/stat, status and cgroup, /proc/uptime) or a cgroupfs value file (memory.max).
 * Their first read(2) returns the whole text when it fits the buffer, so the read that would
 * return 0 is skipped: one syscall fewer per file than readSmallFile, which a multi-record file
 * (net/tcp, maps: a page per read) must use. A read that fills the buffer falls back to it.
 * Throws the raw fs error.
 */
export function readRecordFile(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const n = readSync(fd, scratch, 0, scratch.length, null);
    if (n === scratch.length) return readFileSync(path);
    return Buffer.from(scratch.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/**
 * A system-wide record file (/proc/uptime) kept open and read again from offset 0: pread(2) at 0
 * makes a seq_file generate its text afresh, so each read costs one syscall instead of three.
 * Never used for a target's files: an open descriptor of /proc/<pid>/environ would keep reading
 * the memory of the program the process ran when it was opened, not the one it runs now.
 */
export class HeldRecordFile {
  private fd: number | undefined;

  constructor(readonly path: string) {}

  /** The file's current text; reopens once if the held descriptor fails. Throws the raw fs error. */
  read(): Buffer {
    for (let attempt = 0; ; attempt++) {
      this.fd ??= openSync(this.path, "r");
      try {
        const n = readSync(this.fd, scratch, 0, scratch.length, 0);
        if (n === scratch.length) return readFileSync(this.path);
        return Buffer.from(scratch.subarray(0, n));
      } catch (err) {
        this.close();
        if (attempt > 0) throw err;
      }
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed or never valid: nothing to release.
    }
    this.fd = undefined;
  }
}

/** `<procRoot>/<pid>/<file>` as a Buffer; throws a coded AgentError. */
export function readProcBuffer(procRoot: string, pid: number, file: string): Buffer {
  try {
    return readSmallFile(`${procRoot}/${pid}/${file}`);
  } catch (err) {
    throw procReadError(err, pid, file);
  }
}

/** `<procRoot>/<pid>/<file>` as UTF-8 text; throws a coded AgentError. */
export function readProcText(procRoot: string, pid: number, file: string): string {
  return readProcBuffer(procRoot, pid, file).toString("utf8");
}

/** `<procRoot>/<pid>/<file>` of a single-record file (readRecordFile) as text; throws a coded AgentError. */
export function readProcRecord(procRoot: string, pid: number, file: string): string {
  try {
    return readRecordFile(`${procRoot}/${pid}/${file}`).toString("utf8");
  } catch (err) {
    throw procReadError(err, pid, file);
  }
}

/** The entry names of the directory `<procRoot>/<pid>/<dir>`; throws a coded AgentError. */
export function readProcDir(procRoot: string, pid: number, dir: string): string[] {
  try {
    return readdirSync(`${procRoot}/${pid}/${dir}`);
  } catch (err) {
    throw procReadError(err, pid, dir);
  }
}

/** Splits a NUL-separated /proc buffer (cmdline, environ) into strings, dropping the final empty one. */
export function splitNul(buffer: Buffer): string[] {
  if (buffer.length === 0) return [];
  const parts = buffer.toString("utf8").split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}
