/**
 * log-tail's `since`, applied to lines arriving newest first.
 *
 * The rule: a line's time is its own leading timestamp (see log-timestamp.ts) or, when it has
 * none, that of the nearest older line that has one, so a stack trace or a multi-line message
 * stays with the entry that started it. A line whose time is ≥ `since` is kept. The file is
 * assumed to be in time order: the first entry older than `since` ends the scan. Lines before the
 * file's first timestamp have no time and are never kept when `since` is given.
 *
 * Reading backwards, a continuation line is seen before its entry's first line, so continuation
 * lines wait in `pending` until that first line decides for the whole entry.
 */
import { leadingTimestamp } from "./log-timestamp.js";
import type { RawLine } from "./read-backwards.js";

export class SinceFilter {
  private pending: RawLine[] = [];
  private ended = false;

  /**
   * @param since milliseconds since the epoch
   * @param maxPending continuation lines kept while waiting: the caller never needs more than
   *   the lines it still wants, and an entry of a million lines must not fill memory
   */
  constructor(
    private readonly since: number,
    private maxPending: number,
  ) {}

  /** True once an entry older than `since` has been seen: nothing further back can qualify. */
  get passedBoundary(): boolean {
    return this.ended;
  }

  /** Lowers the pending cap as the caller's need shrinks. */
  setMaxPending(max: number): void {
    this.maxPending = max;
  }

  /** Feeds the next (older) line; returns the lines now known to qualify, newest first. */
  push(line: RawLine): RawLine[] {
    if (this.ended) return [];
    const time = leadingTimestamp(line.text);
    if (time === undefined) {
      if (this.pending.length < this.maxPending) this.pending.push(line);
      return [];
    }
    const entry = this.pending;
    this.pending = [];
    if (time < this.since) {
      this.ended = true;
      return [];
    }
    entry.push(line);
    return entry;
  }
}
