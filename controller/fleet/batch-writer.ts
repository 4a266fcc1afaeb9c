/**
 * Group commit for a collection's per-target writes. Items submitted in the same turn of the event
 * loop are written in one transaction: with fifty targets in flight, their creations and outcomes
 * cost one commit per wave instead of one each (an fsync'd commit is milliseconds on a real disk).
 * A caller that must not proceed before its write is durable (marking a request dispatched before
 * sending it) awaits `submit`; the order of one caller's writes is kept because it awaits each.
 */
import type { FleetStore, RequestBatchItem } from "../store/fleet-types.js";

interface Pending {
  readonly item: RequestBatchItem;
  readonly resolve: (applied: boolean) => void;
  readonly reject: (err: unknown) => void;
}

export class BatchWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly store: FleetStore,
    private readonly now: () => number,
  ) {}

  /** Resolves with whether the item applied, once its transaction committed. */
  submit(item: RequestBatchItem): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Resolves once every submitted item is written. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.writes.size > 0) {
      if (this.queue.length > 0 && !this.scheduled) this.flush();
      await Promise.all([...this.writes]);
      if (this.queue.length > 0) await new Promise((r) => setImmediate(r));
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const write = this.store
      .applyRequestBatch(
        batch.map((p) => p.item),
        this.now(),
      )
      .then(
        (applied) => {
          for (const [i, p] of batch.entries()) p.resolve(applied[i] ?? false);
        },
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      )
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }
}
