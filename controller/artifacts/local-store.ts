/**
 * The embedded artifact store: files under `<dataDir>/artifacts`. A write goes to `.staging/<uuid>`
 * (0600, exclusive create), is fsynced and renamed into place on commit, so a reader never sees a
 * partial file and a crash leaves only staging files, which the next start removes.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { type ArtifactStore, ArtifactStoreError, type ArtifactWrite, type StoredObject } from "./types.js";

const STAGING = ".staging";

/** Opens (creating) the folder and clears staging files left by a crash. */
export async function openLocalArtifactStore(dir: string, maxBytes: number): Promise<ArtifactStore> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true, mode: 0o700 });
  await rm(join(root, STAGING), { recursive: true, force: true });
  await mkdir(join(root, STAGING), { mode: 0o700 });

  const pathOf = (location: string): string => {
    const path = resolve(location);
    // Locations come from our own database, but a path outside the folder is refused all the same.
    if (relative(root, path).startsWith("..") || !path.startsWith(root + sep))
      throw new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", "artifact location outside the store");
    return path;
  };

  return {
    kind: "local",
    maxBytes,
    direct: undefined,
    async beginWrite(key) {
      const final = pathOf(join(root, key));
      const staging = join(root, STAGING, randomUUID());
      let file: WriteStream;
      try {
        file = await openExclusive(staging);
      } catch (err) {
        throw storeFailure(err, "cannot create a staging file");
      }
      return localWrite(file, staging, final, maxBytes);
    },
    async open(location) {
      const stream = createReadStream(pathOf(location));
      // Surface ENOENT here, not in the middle of an HTTP answer.
      await new Promise<void>((ok, fail) => stream.once("open", () => ok()).once("error", fail));
      return stream as Readable;
    },
    async delete(location) {
      await rm(pathOf(location), { force: true });
    },
    async close() {},
  };
}

function openExclusive(path: string): Promise<WriteStream> {
  return new Promise((ok, fail) => {
    // 1 MiB of buffer (the default is 16 KiB) lets the network keep going while the disk writes.
    const stream = createWriteStream(path, { flags: "wx", mode: 0o600, highWaterMark: 1024 * 1024 });
    stream.once("open", () => ok(stream)).once("error", fail);
  });
}

function localWrite(file: WriteStream, staging: string, final: string, maxBytes: number): ArtifactWrite {
  let bytes = 0;
  let failure: Error | undefined;
  let settled = false;
  file.on("error", (err) => {
    failure ??= storeFailure(err, "writing the artifact failed");
  });
  const discard = async () => {
    file.destroy();
    await rm(staging, { force: true });
  };
  return {
    write(chunk) {
      if (failure) throw failure;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        failure = new ArtifactStoreError(
          "KH_ARTIFACT_TOO_LARGE",
          `the artifact exceeds the store's limit of ${maxBytes} bytes`,
        );
        throw failure;
      }
      if (file.write(chunk)) return undefined;
      return new Promise<void>((ok, fail) => {
        const onError = () => fail(failure);
        file.once("drain", () => {
          file.off("error", onError);
          if (failure) fail(failure);
          else ok();
        });
        file.once("error", onError);
      });
    },
    async commit(): Promise<StoredObject> {
      if (settled) throw new Error("artifact write already settled");
      settled = true;
      try {
        if (failure) throw failure;
        await new Promise<void>((ok, fail) => {
          file.once("error", () => fail(failure));
          file.end(() => ok());
        });
        // Durable before visible: fsync the file, rename, then fsync the folder's entry.
        const handle = await open(staging, "r");
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await mkdir(dirname(final), { recursive: true, mode: 0o700 });
        await rename(staging, final);
        return { location: final, size: bytes };
      } catch (err) {
        await discard();
        throw err instanceof ArtifactStoreError ? err : storeFailure(err, "committing the artifact failed");
      }
    },
    async abort() {
      settled = true;
      await discard();
    },
  };
}

/** ENOSPC, EACCES, EROFS, … as a store failure that names the cause without a stack. */
function storeFailure(err: unknown, what: string): ArtifactStoreError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === "ENOSPC"
      ? "the disk is full"
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "the artifact folder is not writable"
        : (code ?? (err as Error).message);
  return new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", `${what}: ${why}`, { cause: err });
}
