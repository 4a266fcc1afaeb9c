/**
 * A full disk under the local store. A tiny tmpfs is not available here, so the failure is injected:
 * `node:fs`'s createWriteStream is wrapped so that writes into the store's staging folder fail with
 * ENOSPC once 1 MiB is written, while `disk.full` is set (the rest of the I/O is real). Checked at
 * the store's own interface, and through the controller: the request ends failed with a clear
 * reason, nothing is registered or left in staging, and a retry works once there is room.
 */
import type { WriteStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openLocalArtifactStore } from "../../../controller/artifacts/local-store.js";
import { type ArtifactHarness, startArtifactHarness, testBytes } from "./harness.js";

const MIB = 1024 * 1024;
const disk = vi.hoisted(() => ({ full: false }));

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const enospc = () =>
    Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      errno: -28,
      syscall: "write",
    });
  const createWriteStream = ((path: string, options?: object) => {
    const stream = fs.createWriteStream(path, options as never) as WriteStream & {
      _write: (chunk: Buffer, encoding: string, cb: (err?: Error) => void) => void;
      _writev?: (chunks: { chunk: Buffer }[], cb: (err?: Error) => void) => void;
    };
    if (!disk.full || !String(path).includes(`${sep}.staging${sep}`)) return stream;
    let room = MIB;
    const write = stream._write.bind(stream);
    stream._write = (chunk, encoding, cb) => {
      room -= chunk.length;
      if (room < 0) cb(enospc());
      else write(chunk, encoding, cb);
    };
    // Without _writev every buffered chunk goes through the _write above.
    stream._writev = undefined;
    return stream;
  }) as typeof fs.createWriteStream;
  return { ...fs, default: { ...fs, createWriteStream }, createWriteStream };
});

describe("the local store on a full disk", () => {
  it("rejects the write with 'the disk is full', and abort leaves nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyhole-disk-full-"));
    try {
      const store = await openLocalArtifactStore(dir, 64 * MIB);
      disk.full = true;
      const write = await store.beginWrite("staging/r1/a1", { contentType: "application/octet-stream" });
      const data = testBytes(3 * MIB, 41);
      let error: unknown;
      try {
        for (let i = 0; i < data.length; i += 256 * 1024) await write.write(data.subarray(i, i + 256 * 1024));
        await write.commit();
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({
        code: "KH_ARTIFACT_STORE_FAILED",
        message: "writing the artifact failed: the disk is full",
      });
      await write.abort();
      expect(await readdir(join(dir, ".staging"))).toEqual([]);
      expect((await readdir(dir)).filter((f) => f !== ".staging")).toEqual([]);
    } finally {
      disk.full = false;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a stream request while the disk is full", () => {
  let h: ArtifactHarness;
  beforeAll(async () => {
    h = await startArtifactHarness();
  });
  afterAll(async () => {
    disk.full = false;
    await h?.close();
  });

  it("fails with a clear reason, registers nothing, leaves no staging file; a retry works", async () => {
    disk.full = true;
    const failed = await h.run("bytes", { size: 3 * MIB, seed: 42 }, "stream");
    expect(failed.status).toBe("failed");
    expect(failed.error).toEqual({
      code: "KH_ARTIFACT_STORE_FAILED",
      message: "writing the artifact failed: the disk is full",
    });
    expect(failed.artifactId).toBeUndefined();
    const audit = await h.controller.store.listAudit();
    expect(audit.some((r) => r.event === "artifact.stored")).toBe(false);
    expect(
      audit.find((r) => r.event === "request.failed" && r.requestId === failed.id)?.details,
    ).toMatchObject({
      code: "KH_ARTIFACT_STORE_FAILED",
    });
    const root = join(h.dataDir, "artifacts");
    expect(await readdir(join(root, ".staging"))).toEqual([]);
    expect((await readdir(root)).filter((f) => f !== ".staging")).toEqual([]);

    disk.full = false;
    const retried = await h.run("bytes", { size: 3 * MIB, seed: 42 }, "stream");
    expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
    expect((await h.call("GET", `/v1/artifacts/${retried.artifactId}`)).json.artifact.size).toBe(3 * MIB);
  });
});
