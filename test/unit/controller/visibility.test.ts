import { describe, expect, it } from "vitest";
import { listVisible } from "../../../controller/policy/visibility.js";

/** Newest-first rows 1000…1 as a store pages them: `limit` rows with a cursor below `before`. */
function pages(total: number, limit: number) {
  const calls: (number | undefined)[] = [];
  const page = async (before: number | undefined) => {
    calls.push(before);
    const top = before === undefined ? total : before - 1;
    const rows = [];
    for (let n = top; n >= 1 && rows.length < limit; n--) rows.push({ record: n, cursor: n });
    return rows;
  };
  return { page, calls };
}

describe("listVisible", () => {
  it("pages on past invisible rows until the limit is filled, newest first", async () => {
    const { page, calls } = pages(1000, 10);
    const out = await listVisible(10, page, (n) => n % 7 === 0);
    expect(out).toEqual([994, 987, 980, 973, 966, 959, 952, 945, 938, 931]);
    expect(calls).toEqual([undefined, 991, 981, 971, 961, 951, 941]);
  });

  it("stops at a short page (the end of the table)", async () => {
    const { page, calls } = pages(15, 10);
    expect(await listVisible(10, page, (n) => n > 12)).toEqual([15, 14, 13]);
    expect(calls).toEqual([undefined, 6]);
  });

  it("scans at most 20 pages, so one caller who may see nothing cannot make a list read the whole table", async () => {
    const { page, calls } = pages(100_000, 10);
    expect(await listVisible(10, page, () => false)).toEqual([]);
    expect(calls).toHaveLength(20);
  });
});
