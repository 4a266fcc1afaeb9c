/**
 * Whether this run has printed its JSON document, so a failure under `--json` adds a JSON error only
 * when stdout holds none yet (one document on stdout, never two). Its own file: the agent image's
 * entry (run-program.ts) needs it without the rest of cli/output.ts.
 */
let printed = false;

export function markJsonPrinted(): void {
  printed = true;
}

export function jsonPrinted(): boolean {
  return printed;
}
