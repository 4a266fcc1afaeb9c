/**
 * Verifying an audit chain, record by record, in one pass with constant memory (a million records
 * verify without holding them). It names the first record that breaks the chain and says how:
 *
 * - `changed`: a record's fields no longer match its hash, or its successor links to another hash
 *   (the record was edited and its own hash recomputed);
 * - `deleted`: a sequence number is missing, or a record was renumbered down to close the gap;
 * - `inserted`: two records claim one sequence number, a record was renumbered up to make room, or
 *   an export holds records after its signed head;
 * - `reordered`: a record appears after one with a higher sequence number, or two records swapped
 *   their sequence numbers;
 * - `truncated`: a signed checkpoint covers records the chain does not hold;
 * - `rewritten`: the chain is consistent but disagrees with a signed checkpoint (someone rewrote it
 *   and recomputed every hash after the change);
 * - `bad-checkpoint`: a checkpoint whose signature does not verify under the pinned keys;
 * - `malformed`: a line or row that is not a record.
 */
import type { KeyObject } from "node:crypto";
import { type AuditRecord, auditRecordHash, GENESIS_HASH } from "./chain.js";
import { type AuditCheckpoint, checkpointProblem } from "./checkpoint.js";

export type ProblemKind =
  | "changed"
  | "deleted"
  | "inserted"
  | "reordered"
  | "truncated"
  | "rewritten"
  | "bad-checkpoint"
  | "malformed";

export interface VerifyProblem {
  readonly kind: ProblemKind;
  /** The sequence number of the record named (the first one affected). */
  readonly seq: number | undefined;
  /** Where it is: `line N` of a file, `seq N` of a database. */
  readonly where: string;
  readonly message: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly records: number;
  readonly lastSeq: number;
  readonly lastHash: string;
  readonly checkpoints: number;
  /** The newest signed checkpoint the chain matched. */
  readonly lastCheckpoint: { readonly seq: number; readonly time: string } | undefined;
  /** Records after the newest checkpoint: intact as a chain, but not yet covered by a signature. */
  readonly unsignedTail: number;
  readonly problem: VerifyProblem | undefined;
}

interface Seen {
  readonly seq: number;
  readonly hash: string;
  readonly prevHash: string;
  readonly where: string;
}

/** Feed records in chain order with `push`, then call `finish`. */
export class ChainVerifier {
  private readonly checkpoints: AuditCheckpoint[];
  private nextCheckpoint = 0;
  private matched: AuditCheckpoint | undefined;
  private prev: Seen | undefined;
  private count = 0;
  private problem: VerifyProblem | undefined;
  /** After a problem, a few more records can refine how it is named. */
  private refine: ((record: AuditRecord, where: string) => void) | undefined;

  /**
   * @param checkpoints every checkpoint to hold the chain to, any order; each is checked against
   *   `keys` first, and a bad one is itself a problem
   */
  constructor(
    checkpoints: readonly { checkpoint: AuditCheckpoint; where: string }[],
    keys: ReadonlyMap<string, KeyObject>,
  ) {
    for (const { checkpoint, where } of checkpoints) {
      const why = checkpointProblem(checkpoint, keys);
      if (why && !this.problem)
        this.problem = {
          kind: "bad-checkpoint",
          seq: checkpoint.seq,
          where,
          message: `the checkpoint at ${where} (seq ${checkpoint.seq}) is not trustworthy: ${why}`,
        };
    }
    const unique = new Map<string, AuditCheckpoint>();
    for (const { checkpoint } of checkpoints) unique.set(`${checkpoint.seq}/${checkpoint.hash}`, checkpoint);
    this.checkpoints = [...unique.values()].sort((a, b) => a.seq - b.seq);
    // A checkpoint of the empty chain says nothing can be missing before seq 1.
    while (this.checkpoints[this.nextCheckpoint]?.seq === 0) {
      const cp = this.checkpoints[this.nextCheckpoint++]!;
      if (cp.hash === GENESIS_HASH) this.matched = cp;
    }
  }

  /** True once a problem is found and further records can only refine its name. */
  get failed(): boolean {
    return this.problem !== undefined && this.refine === undefined;
  }

  push(record: AuditRecord, where: string): void {
    if (this.problem) {
      const refine = this.refine;
      if (refine) {
        this.refine = undefined;
        refine(record, where);
      }
      return;
    }
    this.count++;
    const expectedSeq = (this.prev?.seq ?? 0) + 1;
    const expectedPrev = this.prev?.hash ?? GENESIS_HASH;
    // auditRecordHash reads only the hashed fields, so the record goes in as it is (no copy).
    const hash = record.hash;
    if (auditRecordHash(record) !== hash) {
      if (record.seq > 1 && auditRecordHash({ ...record, seq: record.seq - 1 }) === hash) {
        this.fail(
          "inserted",
          record.seq - 1,
          this.prev?.where ?? where,
          () =>
            `record ${record.seq - 1} (${this.prev?.where ?? where}) was inserted: the record after it (${where}) was renumbered from ${record.seq - 1} to ${record.seq} to make room`,
        );
      } else if (auditRecordHash({ ...record, seq: record.seq + 1 }) === hash) {
        this.fail(
          "deleted",
          record.seq,
          where,
          () =>
            `record ${record.seq} was deleted: the record at ${where} was renumbered from ${record.seq + 1} to ${record.seq} to close the gap`,
        );
        // Unless the next one moved up into its place: then the two swapped places.
        this.refine = (next, nextWhere) => {
          const { hash: nextHash, ...nextRest } = next;
          if (next.seq === record.seq + 1 && auditRecordHash({ ...nextRest, seq: record.seq }) === nextHash)
            this.problem = {
              kind: "reordered",
              seq: record.seq,
              where,
              message: `records ${record.seq} and ${record.seq + 1} swapped places (${where} and ${nextWhere})`,
            };
        };
      } else {
        this.fail(
          "changed",
          record.seq,
          where,
          () => `record ${record.seq} (${where}) was changed: its fields do not match its hash`,
        );
      }
      return;
    }
    if (record.seq === expectedSeq) {
      if (record.prevHash !== expectedPrev) {
        if (!this.prev) {
          this.fail(
            "changed",
            record.seq,
            where,
            () => `record ${record.seq} (${where}) does not link to the start of the chain`,
          );
        } else {
          const prev = this.prev;
          this.fail(
            "changed",
            prev.seq,
            prev.where,
            () =>
              `record ${prev.seq} (${prev.where}) was changed: record ${record.seq} (${where}) links to a different hash (its hash was recomputed)`,
          );
        }
        return;
      }
      this.accept({ seq: record.seq, hash, prevHash: record.prevHash, where });
      return;
    }
    if (record.seq > expectedSeq) {
      const missing = expectedSeq;
      const after = this.prev;
      this.fail("deleted", missing, where, () =>
        missing === record.seq - 1
          ? `record ${missing} is missing: ${after ? `record ${after.seq} (${after.where})` : "the start of the chain"} is followed by record ${record.seq} (${where})`
          : `records ${missing} to ${record.seq - 1} are missing: ${after ? `record ${after.seq} (${after.where})` : "the start of the chain"} is followed by record ${record.seq} (${where})`,
      );
      // A swap shows first as a gap; if the missing record turns up next, it was reordered.
      this.refine = (next, nextWhere) => {
        if (next.seq === missing) {
          this.problem = {
            kind: "reordered",
            seq: missing,
            where: nextWhere,
            message: `record ${missing} (${nextWhere}) was moved: it comes after record ${record.seq} (${where})`,
          };
        }
      };
      return;
    }
    // A sequence number at or below one already seen.
    const prev = this.prev!;
    if (record.seq === prev.seq && record.prevHash === prev.prevHash) {
      // Two records with one predecessor: whichever the next record does not link to was inserted.
      this.fail(
        "inserted",
        record.seq,
        where,
        () => `record ${record.seq} appears twice (${prev.where} and ${where}): one of them was inserted`,
      );
      this.refine = (next) => {
        const inserted =
          next.prevHash === hash ? prev.where : next.prevHash === prev.hash ? where : undefined;
        if (inserted)
          this.problem = {
            kind: "inserted",
            seq: record.seq,
            where: inserted,
            message: `record ${record.seq} at ${inserted} was inserted: the chain continues from the other record ${record.seq}`,
          };
      };
      return;
    }
    this.fail(
      "reordered",
      record.seq,
      where,
      () => `record ${record.seq} (${where}) was moved: it comes after record ${prev.seq} (${prev.where})`,
    );
  }

  /**
   * Ends the chain. `signedHead` (an export's header) requires the chain to end exactly there: a
   * record after it was added to the file afterwards.
   */
  finish(options: { requireSignedTail?: boolean } = {}): VerifyResult {
    this.refine = undefined;
    const last = this.prev;
    if (!this.problem) {
      const uncovered = this.checkpoints[this.nextCheckpoint];
      if (uncovered) {
        const lastSeq = last?.seq ?? 0;
        this.problem = {
          kind: "truncated",
          seq: lastSeq + 1,
          where: last ? `after ${last.where}` : "at the start",
          message: `the chain was truncated: it ends at record ${lastSeq}, but a checkpoint signed at ${uncovered.time} covers records up to ${uncovered.seq}; record ${lastSeq + 1} is the first one missing`,
        };
      }
    }
    const signedSeq = this.matched?.seq ?? 0;
    const unsignedTail = Math.max(0, (last?.seq ?? 0) - signedSeq);
    if (!this.problem && options.requireSignedTail && unsignedTail > 0) {
      this.problem = {
        kind: "inserted",
        seq: signedSeq + 1,
        where: `record ${signedSeq + 1}`,
        message: `${unsignedTail} record(s) from ${signedSeq + 1} on come after the export's signed head (seq ${signedSeq}): they were added to the file afterwards`,
      };
    }
    return {
      ok: this.problem === undefined,
      records: this.count,
      lastSeq: last?.seq ?? 0,
      lastHash: last?.hash ?? GENESIS_HASH,
      checkpoints: this.checkpoints.length,
      lastCheckpoint: this.matched && { seq: this.matched.seq, time: this.matched.time },
      unsignedTail,
      problem: this.problem,
    };
  }

  /** Records a problem found while reading (a line that is not a record). */
  malformed(where: string, why: string): void {
    if (this.problem && !this.refine) return;
    this.refine = undefined;
    this.problem ??= {
      kind: "malformed",
      seq: undefined,
      where,
      message: `${where} is not an audit record: ${why}`,
    };
  }

  private accept(seen: Seen): void {
    this.prev = seen;
    for (
      let cp = this.checkpoints[this.nextCheckpoint];
      cp && cp.seq <= seen.seq;
      cp = this.checkpoints[this.nextCheckpoint]
    ) {
      this.nextCheckpoint++;
      // Records are contiguous here, so cp.seq === seen.seq.
      if (cp.hash !== seen.hash) {
        const from = (this.matched?.seq ?? 0) + 1;
        this.problem = {
          kind: "rewritten",
          seq: from,
          where: seen.where,
          message: `the chain was rewritten between records ${from} and ${seen.seq}: a checkpoint signed at ${cp.time} says record ${cp.seq} has hash ${cp.hash.slice(0, 16)}…, the chain has ${seen.hash.slice(0, 16)}… (every hash after the change was recomputed)`,
        };
        return;
      }
      this.matched = cp;
    }
  }

  private fail(kind: ProblemKind, seq: number, where: string, message: () => string): void {
    this.problem = { kind, seq, where, message: message() };
  }
}
