/**
 * Closing an inspector the agent opened, with fixed expressions the agent owns (never anything a
 * request chose): `require("inspector").close()`, evaluated with the command-line API so that
 * `require` exists even in an ES-module target, and `process._debugEnd()` as the fallback.
 */
import type { CdpClient } from "./cdp-client.js";

/** The closing expressions, in order of preference. */
export const CLOSE_EXPRESSIONS = ['require("inspector").close()', "process._debugEnd()"] as const;

interface EvaluateResult {
  readonly exceptionDetails?: unknown;
}

/**
 * Asks the target to close its inspector. The target drops every connection as it closes, ours
 * included, so the reply usually never comes: the connection closing is the success signal.
 * Resolves true when the connection closed within `timeoutMs` (the target may first have to finish
 * a heap snapshot it is serialising: its main thread answers nothing until then).
 */
export async function requestInspectorClose(client: CdpClient, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
    timer.unref();
  });
  try {
    for (const expression of CLOSE_EXPRESSIONS) {
      const reply = client
        .send<EvaluateResult>("Runtime.evaluate", { expression, includeCommandLineAPI: true, silent: true })
        .then(
          (result) => (result.exceptionDetails ? ("threw" as const) : ("answered" as const)),
          () => "closed" as const,
        );
      const outcome = await Promise.race([reply, client.closed.then(() => "closed" as const), timeout]);
      if (outcome === "closed") return true;
      if (outcome === "timeout") return false;
      if (outcome === "answered") {
        // Evaluated without error but the connection is still up: give it the rest of the time.
        return (await Promise.race([client.closed.then(() => "closed" as const), timeout])) === "closed";
      }
      // "threw": `require` unavailable (or close() refused); try the next expression.
    }
    return false;
  } finally {
    clearTimeout(timer);
  }
}
