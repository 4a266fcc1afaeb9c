/**
 * Signs checkpoints of the audit chain while the controller runs: after every `everyRecords` new
 * records, or `everyMs` after the last checkpoint when anything was appended since, and once more at
 * shutdown, so a cleanly stopped controller leaves no unsigned tail. It follows the chain's tail by
 * polling (an index lookup), which also catches records other writers appended: the CLI's token
 * commands, or other replicas on the same PostgreSQL database. New records are handed to `onRecords`
 * (the OpenTelemetry log bridge) when one is given.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Store } from "../store/types.js";
import type { AuditKey } from "./audit-key.js";
import type { AuditRecord } from "./chain.js";
import { type AuditCheckpoint, signCheckpoint } from "./checkpoint.js";

export interface CheckpointerOptions {
  readonly store: Store;
  readonly key: AuditKey;
  /** Sign once this many records were appended since the last checkpoint (default 1000). */
  readonly everyRecords?: number;
  /** Sign this long after the last checkpoint if anything was appended since (default 5 min). */
  readonly everyMs?: number;
  /** How often the tail is looked at (default 1 s). */
  readonly pollMs?: number;
  readonly now: () => number;
  readonly log: FastifyBaseLogger;
  /** Receives every record appended after start, in order. */
  readonly onRecords?: (records: readonly AuditRecord[]) => void | Promise<void>;
}

export class AuditCheckpointer {
  private readonly options: CheckpointerOptions;
  private last: { seq: number; at: number } = { seq: 0, at: 0 };
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: CheckpointerOptions) {
    this.options = options;
  }

  /** Reads where the chain and its checkpoints stand and starts polling. */
  async start(): Promise<void> {
    const { store, now } = this.options;
    const checkpoints = await store.listCheckpoints();
    const newest = checkpoints.at(-1);
    this.last = newest ? { seq: newest.seq, at: Date.parse(newest.time) } : { seq: 0, at: now() };
    this.cursor = (await store.auditHead())?.seq ?? 0;
    const pollMs = this.options.pollMs ?? 1000;
    this.timer = setInterval(() => void this.tick(), pollMs);
    this.timer.unref();
  }

  /** One look at the tail; concurrent calls share one run. */
  tick(force = false): Promise<void> {
    this.running ??= this.run(force).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Signs a checkpoint of the current head now (if it is not signed yet) and returns it. */
  async checkpointNow(): Promise<AuditCheckpoint | undefined> {
    await this.running;
    await this.tick(true);
    return (await this.options.store.listCheckpoints({ afterSeq: this.last.seq - 1 })).at(-1);
  }

  /** Stops polling and signs the tail once more. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.run(true);
  }

  private async run(force: boolean): Promise<void> {
    const { store, key, now, log, onRecords } = this.options;
    try {
      const head = await store.auditHead();
      if (!head) return;
      if (onRecords && head.seq > this.cursor) {
        while (this.cursor < head.seq) {
          const records = await store.listAudit({ afterSeq: this.cursor, limit: 1000 });
          if (records.length === 0) break;
          this.cursor = records.at(-1)!.seq;
          await onRecords(records);
        }
      } else this.cursor = Math.max(this.cursor, head.seq);
      const pending = head.seq - this.last.seq;
      if (pending <= 0) return;
      const at = now();
      const due =
        force ||
        pending >= (this.options.everyRecords ?? 1000) ||
        at - this.last.at >= (this.options.everyMs ?? 5 * 60_000);
      if (!due) return;
      const checkpoint = signCheckpoint(key, head, at);
      await store.appendCheckpoint(checkpoint);
      this.last = { seq: head.seq, at };
      // The log line is a second, external witness: a shipped log keeps checkpoints the database lost.
      log.info(
        {
          auditCheckpoint: {
            seq: checkpoint.seq,
            hash: checkpoint.hash,
            kid: checkpoint.kid,
            signature: checkpoint.signature,
          },
        },
        "audit checkpoint",
      );
    } catch (err) {
      log.error({ err }, "audit checkpoint failed");
    }
  }
}
