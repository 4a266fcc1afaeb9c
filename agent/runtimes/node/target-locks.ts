/**
 * One inspector session per target at a time, whichever action holds it: two sessions would see
 * each other's inspector as "already open" and one would close it under the other.
 */
import { AgentError } from "../../errors.js";

/** Which action holds which target pid. */
export class TargetLocks {
  private readonly held = new Map<number, string>();

  /** @param what what the lock guards, for the refusal: the inspector, a JVM's attach session */
  constructor(private readonly what = "inspector") {}

  /**
   * Takes the lock of `pid` for `holder` (an action name); throws KH_BUSY when another run holds
   * it. Returns the release function, which is safe to call more than once.
   */
  acquire(pid: number, holder: string): () => void {
    const current = this.held.get(pid);
    if (current !== undefined) {
      throw new AgentError(
        "KH_BUSY",
        `the ${this.what} of process ${pid} is in use by ${current}; one ${this.what} action per target at a time, retry shortly`,
      );
    }
    this.held.set(pid, holder);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(pid);
    };
  }

  isHeld(pid: number): boolean {
    return this.held.has(pid);
  }
}

/** The agent-wide locks every inspector action shares. */
export const inspectorLocks = new TargetLocks();
