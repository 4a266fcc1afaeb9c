/**
 * Issue 23, finding 9: a bundle spooled each streamed entry (a heap snapshot) whole into the agent's
 * temp volume; past the volume's `sizeLimit` the kubelet evicts the pod, workload included. Now the
 * spool stops before the smaller of `--spool-max-mib` and the volume's free space less a reserve
 * (statfs, read again while writing), refuses with KH_RESOURCE_GUARD and deletes what it wrote; a
 * bundle refuses before its answer starts when the volume has no room at all. Real files in a temp
 * dir; the volume's figures are injected where a test needs a small or shrinking volume.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createBundleAction } from "../../../../agent/actions/bundle.js";
import { type ActionDefinition, defineAction, StreamedResult } from "../../../../agent/actions/types.js";
import { spool } from "../../../../agent/bundle/spool.js";
import { actionContext } from "../actions/context.js";

const MIB = 1024 * 1024;

/** `size` bytes in 64 KiB chunks, like a streamed action. */
function bytes(size: number): Readable {
  async function* chunks() {
    for (let sent = 0; sent < size; sent += 64 * 1024)
      yield Buffer.alloc(Math.min(64 * 1024, size - sent), 7);
  }
  return Readable.from(chunks());
}

const streaming = defineAction({
  name: "heap-snapshot",
  description: "a stand-in heap snapshot: `size` bytes",
  params: z.strictObject({ size: z.number().int() }),
  outputs: ["stream"],
  limits: { timeoutMs: 60_000, maxConcurrency: 1, maxOutputBytes: 1024 * MIB },
  run: async ({ size }) => new StreamedResult(bytes(size), "application/json", "heap.heapsnapshot"),
}) as ActionDefinition;

describe("issue 23 finding 9: bundles spool without a bound", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-spool-test-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const leftovers = async () => (await readdir(dir)).filter((n) => n.startsWith("keyhole-bundle-"));

  it("stops past --spool-max-mib with KH_RESOURCE_GUARD and deletes the partial spool", async () => {
    await expect(
      spool(bytes(3 * MIB), new AbortController().signal, { maxBytes: MIB, dir }),
    ).rejects.toMatchObject({ code: "KH_RESOURCE_GUARD", message: expect.stringMatching(/--spool-max-mib/) });
    expect(await leftovers()).toEqual([]);
    // Within the cap it spools as before.
    const kept = await spool(bytes(MIB), new AbortController().signal, { maxBytes: MIB, dir });
    expect(kept.size).toBe(MIB);
    await kept.remove();
  });

  it("stops before the volume's free space runs out (read before and while writing), deleting the spool", async () => {
    // A 100 MiB volume (8 MiB reserve) with 20 MiB free: a 16 MiB entry does not fit.
    const small = async () => ({ free: 20 * MIB, total: 100 * MIB });
    await expect(
      spool(bytes(16 * MIB), new AbortController().signal, { maxBytes: 1024 * MIB, dir, volume: small }),
    ).rejects.toMatchObject({ code: "KH_RESOURCE_GUARD", message: expect.stringMatching(/reserve/) });
    expect(await leftovers()).toEqual([]);

    // Another writer fills the volume while the spool runs: the next reading stops it.
    let reads = 0;
    const shrinking = async () => ({ free: reads++ === 0 ? 90 * MIB : 9 * MIB, total: 100 * MIB });
    await expect(
      spool(bytes(40 * MIB), new AbortController().signal, { maxBytes: 1024 * MIB, dir, volume: shrinking }),
    ).rejects.toMatchObject({ code: "KH_RESOURCE_GUARD" });
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(await leftovers()).toEqual([]);
  });

  it("a bundle with a heap snapshot larger than the spool cap fails coded, leaving nothing", async () => {
    const bundle = createBundleAction(new Map([["heap-snapshot", streaming]]));
    const ctx = actionContext(process.pid, {
      spoolDir: dir,
      spoolMaxBytes: 2 * MIB,
      enabledActions: new Set(["heap-snapshot"]),
    });
    const result = (await bundle.run(
      bundle.params.parse({ actions: [{ action: "heap-snapshot", params: { size: 6 * MIB } }] }),
      ctx,
    )) as StreamedResult;
    await expect(
      (async () => {
        for await (const _ of result.stream);
      })(),
    ).rejects.toMatchObject({ code: "KH_RESOURCE_GUARD" });
    expect(await leftovers()).toEqual([]);
  });

  it("a bundle refuses before its answer starts when the temp volume has no room", async () => {
    const bundle = createBundleAction(new Map([["heap-snapshot", streaming]]));
    const ctx = actionContext(process.pid, {
      spoolDir: dir,
      spoolVolume: async () => ({ free: 4 * MIB, total: 1024 * MIB }),
      enabledActions: new Set(["heap-snapshot"]),
    });
    await expect(
      bundle.run(bundle.params.parse({ actions: [{ action: "heap-snapshot", params: { size: MIB } }] }), ctx),
    ).rejects.toMatchObject({ code: "KH_RESOURCE_GUARD", message: expect.stringMatching(/temp volume/) });
    expect(await leftovers()).toEqual([]);
  });
});
