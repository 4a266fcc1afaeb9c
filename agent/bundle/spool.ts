/**
 * A tar header needs each entry's size before its bytes, and a streamed result (a heap snapshot)
 * has no size until it ends; so a streamed result is spooled to a private temp file, hashed on
 * the way, then added. The file is removed in every outcome.
 *
 * The spool is bounded (issue 23, finding 9): the temp directory is usually an emptyDir with a
 * `sizeLimit`, and a pod whose emptyDir outgrows it is evicted, workload included. So a spool stops
 * before it passes the smaller of `maxBytes` (`--spool-max-mib`) and the volume's free space less a
 * reserve (statfs, read before the first byte and again every SPOOL_RECHECK_BYTES), refuses with
 * KH_RESOURCE_GUARD, and deletes what it wrote.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AgentError } from "../errors.js";

const MIB = 1024 * 1024;
/** `--spool-max-mib`'s default: below the shipped 1Gi temp volume. */
export const DEFAULT_SPOOL_MAX_BYTES = 768 * MIB;
/** How often the volume's free space is read again while spooling. */
export const SPOOL_RECHECK_BYTES = 8 * MIB;

export interface Spooled {
  readonly size: number;
  readonly sha256: string;
  open(): Readable;
  remove(): Promise<void>;
}

export interface SpoolOptions {
  /** The most this spool writes (`--spool-max-mib`). */
  readonly maxBytes: number;
  /** The directory to spool under; default the temp directory. */
  readonly dir?: string;
  /** Reads a volume's free and total bytes (tests inject a small volume); default statfs. */
  readonly volume?: (path: string) => Promise<{ free: number; total: number }>;
}

async function statVolume(path: string): Promise<{ free: number; total: number }> {
  const s = await statfs(path);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

/** What stays free on the volume: 5% of it, at least 8 MiB (other writers, the tar's own needs). */
const reserveOf = (total: number) => Math.max(8 * MIB, Math.ceil(total * 0.05));

/**
 * Refuses with KH_RESOURCE_GUARD when the temp volume has no room for a spool at all (free space
 * within its reserve): a bundle checks this before its answer starts, so the refusal is a coded
 * answer rather than a stream cut short.
 */
export async function checkSpoolRoom(options: SpoolOptions): Promise<void> {
  const { free, total } = await (options.volume ?? statVolume)(options.dir ?? tmpdir());
  const reserve = reserveOf(total);
  if (Math.min(options.maxBytes, free - reserve) <= 0)
    throw new AgentError(
      "KH_RESOURCE_GUARD",
      `the temp volume has ${Math.max(0, free)} bytes free, within its ${reserve}-byte reserve: a bundle cannot spool its streamed entries`,
    );
}

/**
 * Copies `source` into a new 0600 file under a private temp dir; refuses with KH_RESOURCE_GUARD
 * before passing `maxBytes` or the volume's free space, and removes it again on any failure.
 */
export async function spool(source: Readable, signal: AbortSignal, options: SpoolOptions): Promise<Spooled> {
  const volume = options.volume ?? statVolume;
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "keyhole-bundle-"));
  const remove = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, "entry");
  const hash = createHash("sha256");
  let size = 0;
  try {
    const first = await volume(dir);
    const reserve = reserveOf(first.total);
    const roomAtStart = first.free - reserve;
    let limit = Math.min(options.maxBytes, roomAtStart);
    const refuse = (why: string) =>
      new AgentError(
        "KH_RESOURCE_GUARD",
        `the bundle's spool stopped at ${size} bytes: ${why}; nothing was kept (stream the action on its own, or raise --spool-max-mib and the temp volume's sizeLimit)`,
      );
    if (limit <= 0)
      throw refuse(
        `the temp volume has ${Math.max(0, first.free)} bytes free, within its ${reserve}-byte reserve`,
      );
    let nextCheck = SPOOL_RECHECK_BYTES;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > limit) {
          done(
            refuse(
              limit === options.maxBytes
                ? `the entry is larger than --spool-max-mib (${options.maxBytes} bytes)`
                : `the temp volume would keep less than its ${reserve}-byte reserve free`,
            ),
          );
          return;
        }
        hash.update(chunk);
        if (size < nextCheck) {
          done(null, chunk);
          return;
        }
        // Others write to the volume too: read its free space again before going on.
        nextCheck = size + SPOOL_RECHECK_BYTES;
        volume(dir).then(
          (now) => {
            // The bytes before this chunk are written (the file system counts them); this chunk is not.
            limit = Math.min(limit, size - chunk.length + Math.max(0, now.free - reserve));
            if (size > limit)
              done(refuse(`the temp volume would keep less than its ${reserve}-byte reserve free`));
            else done(null, chunk);
          },
          (err: unknown) => done(err as Error),
        );
      },
    });
    await pipeline(source, meter, createWriteStream(file, { mode: 0o600 }), { signal });
  } catch (err) {
    source.destroy();
    await remove();
    throw err;
  }
  return { size, sha256: hash.digest("hex"), open: () => createReadStream(file), remove };
}
