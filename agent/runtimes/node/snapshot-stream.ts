/**
 * The Readable a heap snapshot leaves the agent through: `HeapProfiler.addHeapSnapshotChunk`
 * events go in (optionally through the string masker), bytes come out, and the queue between
 * them is bounded. When it is full, the CDP socket is paused: the backlog then waits in the
 * kernel's socket buffers and the target's inspector queue, which the memory guard's margin
 * accounts for, never in an unbounded queue here.
 *
 * The stream ends only after `finish` has released the inspector session, so a reader that got
 * the last byte knows the inspector is already closed. Destroying the stream (client gone, output
 * cap, timeout) also releases the session before 'close' is emitted.
 */
import { Readable } from "node:stream";
import type { JsonStringMasker } from "./json-string-masker.js";

/** Bytes queued in the agent before the CDP socket is paused. */
export const SNAPSHOT_QUEUE_BYTES = 8 * 1024 * 1024;

/** What the stream needs from its producer. */
export interface SnapshotStreamOptions {
  /** Stop and restart reading from the CDP socket. */
  readonly pause: () => void;
  readonly resume: () => void;
  /** Releases the inspector session (and the target's lock); must not throw. */
  readonly release: () => Promise<void>;
  /** Masks string values as they pass; absent for a raw snapshot. */
  readonly masker?: JsonStringMasker;
  readonly queueBytes?: number;
}

/** A snapshot being streamed. */
export class SnapshotStream extends Readable {
  private paused = false;
  private finished = false;

  constructor(private readonly opts: SnapshotStreamOptions) {
    super({ highWaterMark: opts.queueBytes ?? SNAPSHOT_QUEUE_BYTES });
  }

  /** One chunk of snapshot text from the target. Ignored once the stream is over. */
  addChunk(chunk: string): void {
    if (this.destroyed || this.finished) return;
    let text: string;
    try {
      text = this.opts.masker ? this.opts.masker.write(chunk) : chunk;
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (text.length === 0) return;
    if (!this.push(Buffer.from(text, "utf8")) && !this.paused) {
      this.paused = true;
      this.opts.pause();
    }
  }

  /** The target says the snapshot is complete: flush, release the session, then end. */
  async finish(): Promise<void> {
    if (this.destroyed || this.finished) return;
    this.finished = true;
    let tail: string;
    try {
      tail = this.opts.masker ? this.opts.masker.end() : "";
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (tail.length > 0) this.push(Buffer.from(tail, "utf8"));
    await this.opts.release();
    if (!this.destroyed) this.push(null);
  }

  override _read(): void {
    if (!this.paused) return;
    this.paused = false;
    this.opts.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.opts.release().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
