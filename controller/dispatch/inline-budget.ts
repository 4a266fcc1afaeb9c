/**
 * One bound in bytes on the agents' answers the controller holds in memory at once (issue 23,
 * finding 6). Each answer is already capped (16 MiB), but a cap per answer is no cap on the process:
 * 25 concurrent 16 MiB answers raised the controller's memory by ~575 MiB against a 512Mi limit. Every
 * reader of an answer body takes its bytes from this budget as they arrive and gives them back once
 * the result is stored; an answer that would pass the budget is cut off and its request fails with
 * `KH_BUSY` (retry later, or ask for the stream mode, which goes to the artifact store).
 */

/** The bytes one answer holds; give them back with `release()` (idempotent) once it is stored. */
export interface InlineLease {
  /** Takes `bytes` more; false (taking nothing) when that would pass the budget. */
  take(bytes: number): boolean;
  readonly held: number;
  release(): void;
}

export class InlineBudget {
  private used = 0;

  constructor(readonly capBytes: number) {}

  /** Bytes held now by every lease together. */
  get inUse(): number {
    return this.used;
  }

  lease(): InlineLease {
    let held = 0;
    return {
      take: (bytes) => {
        if (this.used + bytes > this.capBytes) return false;
        this.used += bytes;
        held += bytes;
        return true;
      },
      get held() {
        return held;
      },
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

/** The failed request's reason when the budget is spent. */
export function budgetSpentMessage(capBytes: number): string {
  return `the controller already holds ${Math.round(capBytes / 1024 / 1024)} MiB of agents' answers (--inline-results-max-mib); the answer was not read: retry later, or ask for --output stream`;
}
