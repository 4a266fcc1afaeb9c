/** Temp log roots and a ctx for calling log-tail directly, as the runner would. */
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ActionContext } from "../../../../agent/actions/types.js";
import { actionContext } from "../actions/context.js";

export interface LogDirs {
  /** A parent dir holding the root and things outside it. */
  readonly base: string;
  /** The log root the agent is configured with. */
  readonly root: string;
  cleanup(): void;
}

/** `<tmp>/x/logs` as the root, `<tmp>/x` for siblings and outside files. */
export function makeLogDirs(): LogDirs {
  const base = realpathSync(mkdtempSync(join(tmpdir(), "keyhole-log-tail-")));
  const root = join(base, "logs");
  mkdirSync(root);
  return { base, root, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export function logCtx(logRoots: readonly string[], overrides: Partial<ActionContext> = {}) {
  return actionContext(process.pid, { logRoots, ...overrides });
}

/** The last `n` lines of `content` the obvious way: split on LF, no empty line after a final LF, CRLF's CR dropped. */
export function naiveTail(content: string, n: number): string[] {
  const lines = content.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l)).slice(-n);
}
