import { describe, expect, it } from "vitest";
import { BatchWriter } from "../../../../controller/fleet/batch-writer.js";
import type { FleetStore, RequestBatchItem } from "../../../../controller/store/fleet-types.js";

/** A store that records each batch; `applyRequestBatch` is all the writer uses. */
function recordingStore(fail = false) {
  const batches: number[] = [];
  const store = {
    applyRequestBatch: async (items: readonly RequestBatchItem[]) => {
      batches.push(items.length);
      if (fail) throw new Error("disk full");
      // Odd positions "moved on": the writer must hand each caller its own answer.
      return items.map((_, i) => i % 2 === 0);
    },
  } as unknown as FleetStore;
  return { store, batches };
}

const item = (id: string): RequestBatchItem => ({
  kind: "transition",
  change: { id, from: "dispatched", to: "completed" },
  audit: [],
});

describe("BatchWriter", () => {
  it("writes what is submitted in one turn as one batch, answering each caller", async () => {
    const { store, batches } = recordingStore();
    const writer = new BatchWriter(store, () => 0);
    const answers = await Promise.all(["a", "b", "c", "d", "e"].map((id) => writer.submit(item(id))));
    expect(batches).toEqual([5]);
    expect(answers).toEqual([true, false, true, false, true]);
    // A later turn is a new batch.
    await writer.submit(item("f"));
    expect(batches).toEqual([5, 1]);
  });

  it("rejects every caller of a failed batch, and drain waits for writes in flight", async () => {
    const { store } = recordingStore(true);
    const writer = new BatchWriter(store, () => 0);
    const results = await Promise.allSettled([writer.submit(item("a")), writer.submit(item("b"))]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    const ok = recordingStore();
    const second = new BatchWriter(ok.store, () => 0);
    const pending = second.submit(item("x"));
    await second.drain();
    expect(ok.batches).toEqual([1]);
    await expect(pending).resolves.toBe(true);
  });
});
