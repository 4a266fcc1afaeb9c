/** An ActionContext for calling an action's run() directly, as the runner would. */
import pino from "pino";
import type { ActionContext } from "../../../../agent/actions/types.js";
import { createRedactor } from "../../../../agent/redact/index.js";

export function actionContext(pid: number, overrides: Partial<ActionContext> = {}): ActionContext {
  return {
    pid,
    redactor: createRedactor({ fingerprintKey: new Uint8Array(32).fill(3) }),
    signal: new AbortController().signal,
    log: pino({ level: "silent" }),
    procRoot: "/proc",
    cgroupRoot: "/sys/fs/cgroup",
    logRoots: [],
    ...overrides,
  };
}
