/**
 * Sends the one signal a runtime adapter may send to its target (SIGUSR1 to open a Node inspector,
 * SIGQUIT to start a JVM's attach listener), after the adapter checked that the target handles it.
 * A target that is gone is `KH_TARGET_NOT_FOUND`; any other refusal (another user's process) is
 * `KH_ACTION_FAILED` with the errno.
 */
import { AgentError } from "../errors.js";

export function signalTarget(pid: number, signal: "SIGUSR1" | "SIGQUIT"): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") {
      throw new AgentError("KH_TARGET_NOT_FOUND", `process ${pid} does not exist (or exited)`, {
        cause: err,
      });
    }
    throw new AgentError("KH_ACTION_FAILED", `cannot signal process ${pid} (${code})`, { cause: err });
  }
}
