/**
 * Creating a private directory (`mkdir -p`, mode 0700; the agent's state dir) without Node's recursive mkdir, which
 * loops forever where the kernel answers ENOENT for a new entry of a directory that exists: procfs
 * and sysfs do. `KEYHOLE_STATE_DIR=/proc/x` hung the agent at start, at full CPU, before it logged
 * anything (found while benchmarking, 2026-12-02). Here each missing level is created once, so a
 * refusal is an error the caller logs.
 */
import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

const errnoCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Creates `dir` and its missing parents (mode 0700); throws the first refusal's fs error. */
export function makePrivateDir(dir: string): void {
  const missing: string[] = [];
  for (let at = resolve(dir); ; ) {
    try {
      if (statSync(at).isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at}'`), { code: "ENOTDIR" });
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
      missing.push(at);
      const parent = dirname(at);
      if (parent === at) throw err;
      at = parent;
    }
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (err) {
      // Another process (a second agent given the same dir) may have made it meanwhile.
      if (errnoCode(err) !== "EEXIST" || !statSync(path).isDirectory()) throw err;
    }
  }
}
