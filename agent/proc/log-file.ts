/**
 * Opening a log file a request named, only if it lies inside one of the agent's log roots.
 *
 * The request's path is hostile input. The order of the checks matters:
 * 1. lexical refusals before touching the filesystem (empty, NUL, `..`), so an escape attempt
 *    learns nothing about what exists outside the roots;
 * 2. `realpath`, then containment of the real path (every symlink followed) in the real path of
 *    a root, compared with a trailing separator so `/var/log/app2` is not inside `/var/log/app`;
 * 3. `lstat` of the real path: only regular files (a FIFO would block, a device is not a log);
 * 4. open with O_NOFOLLOW | O_NONBLOCK, then `fstat` the descriptor and require the same device
 *    and inode as step 3, which closes the race of a path component swapped after the check.
 */
import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, open, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { AgentError } from "../errors.js";

/** An opened log file. The caller closes `handle` in `finally`. */
export interface OpenedLogFile {
  readonly handle: FileHandle;
  /** The file's real path (for the agent's log, not for the response). */
  readonly realPath: string;
  /** The size at open time: reading stops there even if the file keeps growing. */
  readonly size: number;
}

/**
 * Kernel pseudo-filesystems are never logs, whatever the roots say: `/proc/self/environ` holds
 * the agent's own secrets and reading a device can block or have side effects.
 */
const NEVER_ROOTS = ["/proc", "/sys", "/dev"];

function fsCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string"
    ? err.code
    : undefined;
}

function denied(asked: string, why: string): AgentError {
  return new AgentError("KH_PATH_DENIED", `${JSON.stringify(asked)} ${why}`);
}

/** True when `path` is `dir` or below it. Both are real, absolute paths. */
export function isInside(path: string, dir: string): boolean {
  if (path === dir) return true;
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  return path.startsWith(prefix);
}

/**
 * Lexical refusals: nothing is looked up for these. Segments are split on `/` only: a backslash
 * is an ordinary file-name character on Linux.
 */
function checkLexically(asked: string): void {
  if (asked.length === 0) throw denied(asked, "is empty");
  if (asked.includes("\0")) throw new AgentError("KH_PATH_DENIED", "the path contains a NUL byte");
  if (asked.split("/").includes("..")) throw denied(asked, "contains a '..' segment");
}

/** The real paths of the roots that exist; a missing root simply allows nothing. */
async function realRoots(roots: readonly string[]): Promise<string[]> {
  const real: string[] = [];
  for (const root of roots) {
    try {
      real.push(await realpath(root));
    } catch {
      // Deliberately skipped: a root that does not exist (yet) contains no file.
    }
  }
  return real;
}

function insideSomeRoot(path: string, roots: readonly string[]): boolean {
  return !NEVER_ROOTS.some((never) => isInside(path, never)) && roots.some((root) => isInside(path, root));
}

/**
 * The candidate absolute paths for `asked`: itself when absolute, else the path under each
 * configured root in order (the first that exists wins).
 */
function candidates(asked: string, roots: readonly string[]): string[] {
  return isAbsolute(asked) ? [asked] : roots.map((root) => join(root, asked));
}

/**
 * Explains a path that does not resolve. A name missing inside a root is "not found"; but if the
 * deepest ancestor that does exist is already outside the roots (a symlinked directory pointing
 * out), the answer is KH_PATH_DENIED, so the request learns nothing about the outside.
 */
async function missing(
  asked: string,
  path: string,
  roots: readonly string[],
  err: unknown,
): Promise<AgentError> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    try {
      const real = await realpath(dir);
      if (!insideSomeRoot(real, roots)) return denied(asked, "is outside the agent's log roots");
      break;
    } catch {
      if (dir === dirname(dir)) break;
    }
  }
  return new AgentError("KH_FILE_NOT_FOUND", `no such file under the log roots: ${JSON.stringify(asked)}`, {
    cause: err,
  });
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  if (stats.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/**
 * Resolves `asked` (relative to a root, or absolute inside one) and opens it read-only, or throws
 * KH_PATH_DENIED before reading a byte. A file that does not exist inside the roots is
 * KH_FILE_NOT_FOUND; an unreadable one is KH_ACTION_FAILED with the reason.
 */
export async function openLogFile(asked: string, roots: readonly string[]): Promise<OpenedLogFile> {
  if (roots.length === 0) {
    throw new AgentError(
      "KH_PATH_DENIED",
      "this agent has no --log-root configured, so it reads no log files",
    );
  }
  checkLexically(asked);
  const allowed = await realRoots(roots);
  if (allowed.length === 0) throw denied(asked, "cannot be read: none of the agent's log roots exists");
  // An absolute path that is not even spelled inside a root is refused without a lookup.
  if (
    isAbsolute(asked) &&
    ![...roots, ...allowed].some((root) => isInside(normalize(asked), normalize(root)))
  ) {
    throw denied(asked, "is outside the agent's log roots");
  }

  const paths = candidates(asked, roots);
  let realPath: string | undefined;
  let firstError: unknown;
  for (const path of paths) {
    try {
      realPath = await realpath(path);
      break;
    } catch (err) {
      firstError ??= err;
    }
  }
  if (realPath === undefined) {
    const code = fsCode(firstError);
    if (code === "ENOENT" || code === "ENOTDIR") throw await missing(asked, paths[0]!, allowed, firstError);
    if (code === "ELOOP") throw denied(asked, "resolves through a symlink loop");
    throw new AgentError("KH_ACTION_FAILED", `cannot resolve ${JSON.stringify(asked)}`, {
      cause: firstError,
    });
  }
  if (!insideSomeRoot(realPath, allowed)) throw denied(asked, "is outside the agent's log roots");

  const checked = await lstat(realPath);
  if (!checked.isFile()) throw denied(asked, `is ${fileKind(checked)}, not a regular file`);

  let handle: FileHandle;
  try {
    // O_NONBLOCK: should a FIFO be swapped in after the check, open must not wait for a writer.
    handle = await open(realPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = fsCode(err);
    if (code === "ELOOP") throw denied(asked, "was replaced by a symlink while being opened");
    if (code === "EACCES" || code === "EPERM") {
      throw new AgentError("KH_ACTION_FAILED", `permission denied reading ${JSON.stringify(asked)}`, {
        cause: err,
      });
    }
    throw new AgentError("KH_ACTION_FAILED", `cannot open ${JSON.stringify(asked)}`, { cause: err });
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.dev !== checked.dev || opened.ino !== checked.ino) {
      throw denied(asked, "changed while being opened");
    }
    return { handle, realPath, size: opened.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
