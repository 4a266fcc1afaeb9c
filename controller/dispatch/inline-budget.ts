/**
 * One bound in bytes on the agents' answers the controller holds in memory at once (issue 23,
 * finding 6). Each answer is already capped (16 MiB), but a cap per answer is no cap on the process:
 * 25 concurrent 16 MiB answers raised the controller's memory by ~575 MiB against a 512Mi limit. Every
 * reader of an answer body takes its bytes from this budget as they arrive and gives them back once
 * the result is stored; an answer that would pass the budget is cut off and its request fails with
 * `KH_BUSY` (retry later, or ask for the stream mode, which goes to the artifact store).
 *
 * One agent, or one requester, cannot take the whole budget (issue 23 attack, N3: a rogue agent
 * declared 16 MiB answers, sent one byte each and stalled, and four of them blocked every inline
 * result in every environment for the dispatch timeout): bytes are taken only as they arrive (never
 * on a declared length), an agent holds at most a quarter of the budget and a requester at most a
 * half (never less than one whole answer), and the reader drops an answer that stalls
 * (send-envelope.ts), giving its bytes back.
 */

/** The bytes one answer holds; give them back with `release()` (idempotent) once it is stored. */
export interface InlineLease {
  /** Takes `bytes` more; false (taking nothing) when that would pass the budget or a holder's share. */
  take(bytes: number): boolean;
  readonly held: number;
  release(): void;
}

/** Who an answer's bytes are counted against besides the whole budget. */
export interface LeaseHolders {
  /** The agent answering. */
  readonly agent?: string;
  /** The subject who asked. */
  readonly requester?: string;
}

export class InlineBudget {
  private used = 0;
  private highest = 0;
  private readonly byHolder = new Map<string, number>();
  /** The most one agent may hold at once. */
  readonly agentShareBytes: number;
  /** The most one requester's answers may hold at once. */
  readonly requesterShareBytes: number;

  /** `answerBytes`: the largest single answer, which a share always admits. */
  constructor(
    readonly capBytes: number,
    answerBytes = 16 * 1024 * 1024,
  ) {
    const atLeastOne = Math.min(capBytes, answerBytes);
    this.agentShareBytes = Math.max(Math.floor(capBytes / 4), atLeastOne);
    this.requesterShareBytes = Math.max(Math.floor(capBytes / 2), atLeastOne);
  }

  /** Bytes held now by every lease together. */
  get inUse(): number {
    return this.used;
  }

  /** The most bytes held at once since the start. */
  get peak(): number {
    return this.highest;
  }

  lease(holders: LeaseHolders = {}): InlineLease {
    let held = 0;
    const shares: [string, number][] = [];
    if (holders.agent !== undefined) shares.push([`agent:${holders.agent}`, this.agentShareBytes]);
    if (holders.requester !== undefined)
      shares.push([`requester:${holders.requester}`, this.requesterShareBytes]);
    return {
      take: (bytes) => {
        if (this.used + bytes > this.capBytes) return false;
        for (const [key, share] of shares) if ((this.byHolder.get(key) ?? 0) + bytes > share) return false;
        this.used += bytes;
        this.highest = Math.max(this.highest, this.used);
        for (const [key] of shares) this.byHolder.set(key, (this.byHolder.get(key) ?? 0) + bytes);
        held += bytes;
        return true;
      },
      get held() {
        return held;
      },
      release: () => {
        this.used -= held;
        for (const [key] of shares) {
          const left = (this.byHolder.get(key) ?? 0) - held;
          if (left > 0) this.byHolder.set(key, left);
          else this.byHolder.delete(key);
        }
        held = 0;
      },
    };
  }
}

/** The failed request's reason when the budget is spent. */
export function budgetSpentMessage(capBytes: number): string {
  return `the controller already holds ${Math.round(capBytes / 1024 / 1024)} MiB of agents' answers (--inline-results-max-mib), or this agent's or requester's share of it; the answer was not read: retry later, or ask for --output stream`;
}
