/**
 * A tar header needs each entry's size before its bytes, and a streamed result (a heap snapshot)
 * has no size until it ends; so a streamed result is spooled to a private temp file, hashed on
 * the way, then added. The file is removed in every outcome.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface Spooled {
  readonly size: number;
  readonly sha256: string;
  open(): Readable;
  remove(): Promise<void>;
}

/** Copies `source` into a new 0600 file under a private temp dir; removes it again on failure. */
export async function spool(source: Readable, signal: AbortSignal): Promise<Spooled> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-bundle-"));
  const remove = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, "entry");
  const hash = createHash("sha256");
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(file, { mode: 0o600 }), { signal });
  } catch (err) {
    source.destroy();
    await remove();
    throw err;
  }
  return { size, sha256: hash.digest("hex"), open: () => createReadStream(file), remove };
}
