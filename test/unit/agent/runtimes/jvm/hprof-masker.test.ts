/**
 * The HPROF masker on dumps built here record by record (the integration test runs it on real
 * JDK 17 dumps): every place text lives, masked same-length in place; the structure checked with
 * the tests' own HPROF reader; the same bytes out whatever the input's chunking; a secret across
 * a window boundary of a large array; unknown records refused rather than passed on.
 */
import { describe, expect, it } from "vitest";
import { createRedactor } from "../../../../../agent/redact/index.js";
import {
  changedRange,
  HprofFormatError,
  maskHprof,
  newHprofMaskStats,
  WINDOW_BYTES,
} from "../../../../../agent/runtimes/jvm/hprof-masker.js";
import { compareMasked, encodingsOf, readHprof } from "../../../../helpers/hprof.js";

const SECRET = "unit-S3cr3t-x9f2kq7mz4wd";
const TOKEN = ["gh", "p_", "UnitTok", "Q7".repeat(15), "zz"].join("");

const u1 = (v: number) => Buffer.from([v]);
const u2 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u4 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const id = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
};
const record = (tag: number, body: Buffer) => Buffer.concat([u1(tag), u4(0), u4(body.length), body]);
const primArray = (objId: number, type: number, data: Buffer, elementSize: number) =>
  Buffer.concat([u1(0x23), id(objId), u4(1), u4(data.length / elementSize), u1(type), data]);
const utf16be = (s: string) => Buffer.from(s, "utf16le").swap16();

/** A small dump with text in every place HotSpot puts it, and one String whose value is a byte[]. */
function buildDump(bigArray?: Buffer): Buffer {
  const header = Buffer.concat([Buffer.from("JAVA PROFILE 1.0.2\0", "latin1"), u4(8), u4(0), u4(0)]);
  const stringClassDump = Buffer.concat([
    u1(0x20),
    id(100),
    u4(1),
    id(0),
    id(0),
    id(0),
    id(0),
    id(0),
    id(0),
    u4(24),
    u2(1), // constant pool: one int
    u2(1),
    u1(10),
    u4(42),
    u2(1), // statics: one long
    id(3),
    u1(11),
    Buffer.alloc(8),
    u2(4), // value, coder, hash, hashIsZero
    id(4),
    u1(2),
    id(5),
    u1(8),
    id(6),
    u1(10),
    id(7),
    u1(4),
  ]);
  const latin = Buffer.from(`postgres://app:${SECRET}@db:5432`, "latin1");
  const stringInstance = Buffer.concat([
    u1(0x21),
    id(200),
    u4(1),
    id(100),
    u4(8 + 1 + 4 + 1),
    id(300),
    u1(0),
    u4(0),
    u1(1),
  ]);
  const segment = Buffer.concat([
    u1(0xff),
    id(1),
    u1(0x01),
    id(1),
    id(2),
    u1(0x08),
    id(1),
    u4(1),
    u4(2),
    stringClassDump,
    stringInstance,
    Buffer.concat([u1(0x22), id(400), u4(1), u4(2), id(100), id(200), id(300)]),
    primArray(300, 8, latin, 1),
    primArray(301, 8, Buffer.from(`grüße ☃ ${TOKEN} ☃`, "utf16le"), 1),
    primArray(302, 5, utf16be(`char ${SECRET} array`), 2),
    primArray(303, 10, Buffer.alloc(64, 7), 4),
    primArray(304, 8, Buffer.from("tiny", "latin1"), 1),
    ...(bigArray ? [primArray(305, 8, bigArray, 1)] : []),
  ]);
  return Buffer.concat([
    header,
    record(0x01, Buffer.concat([id(3), Buffer.from("java/lang/String")])),
    record(0x01, Buffer.concat([id(9), Buffer.from(`Bearer ${TOKEN}`)])),
    record(0x02, Buffer.concat([u4(1), id(100), u4(1), id(3)])),
    record(0x05, Buffer.concat([u4(1), u4(1), u4(0)])),
    record(0x1c, segment),
    record(0x2c, Buffer.alloc(0)),
  ]);
}

async function mask(
  dump: Buffer,
  chunk: number,
): Promise<{ out: Buffer; stats: ReturnType<typeof newHprofMaskStats> }> {
  const redactor = createRedactor({ fingerprintKey: Buffer.alloc(32, 1) });
  redactor.remember(SECRET);
  async function* source() {
    for (let i = 0; i < dump.length; i += chunk) yield dump.subarray(i, i + chunk);
  }
  const stats = newHprofMaskStats();
  const parts: Buffer[] = [];
  for await (const piece of maskHprof(source(), (t) => redactor.maskText(t), stats))
    parts.push(Buffer.from(piece));
  return { out: Buffer.concat(parts), stats };
}

function expectNoSecret(buf: Buffer): void {
  for (const secret of [SECRET, TOKEN]) {
    for (const bytes of encodingsOf(secret)) expect(buf.includes(bytes), secret).toBe(false);
  }
}

describe("maskHprof", () => {
  it("masks symbols, Latin-1 and UTF-16 byte[] and char[] in place; only text bytes change", async () => {
    const dump = buildDump();
    for (const secret of [SECRET, TOKEN])
      expect(encodingsOf(secret).some((b) => dump.includes(b))).toBe(true);
    const { out, stats } = await mask(dump, 1 << 20);
    const { changedBytes, masked } = compareMasked(dump, out);
    expect(changedBytes).toBeGreaterThan(0);
    expectNoSecret(out);
    expect(masked.strings).toEqual([`postgres://app:${"*".repeat(SECRET.length)}@db:5432`]);
    expect(stats).toMatchObject({ symbols: 2, arrays: 4 });
    expect(stats.maskedTexts).toBeGreaterThanOrEqual(4);
    // What is not secret stays: the class name symbol, the text around the token.
    expect(out.includes(Buffer.from("java/lang/String"))).toBe(true);
    expect(out.includes(Buffer.from("Bearer "))).toBe(true);
    expect(out.includes(Buffer.from("grüße ☃ ", "utf16le"))).toBe(true);
  });

  it("binary byte[] buffers: the printable runs in them are masked, the rest is left as it is", async () => {
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256));
    const binary = Buffer.concat([
      noise,
      Buffer.from(`\x01Authorization: Bearer ${TOKEN}\x02`, "latin1"),
      noise,
    ]);
    const wide = Buffer.concat([noise, Buffer.from(`\u0001${SECRET}\u0002`, "utf16le"), noise]);
    const dump = buildDump(Buffer.concat([binary, wide]));
    const { out } = await mask(dump, 100_000);
    compareMasked(dump, out);
    expectNoSecret(out);
    expect(out.includes(noise)).toBe(true);
    expect(out.includes(Buffer.from("Authorization: Bearer ", "latin1"))).toBe(true);
  });

  it("gives the same bytes whatever the input's chunking (records split anywhere)", async () => {
    const dump = buildDump();
    const whole = (await mask(dump, dump.length)).out;
    for (const chunk of [1, 7, 64, 333])
      expect((await mask(dump, chunk)).out.equals(whole), `chunk ${chunk}`).toBe(true);
  });

  it("finds a secret across a window boundary of a large array", async () => {
    const big = Buffer.alloc(3 * WINDOW_BYTES, "a");
    big.write(SECRET, WINDOW_BYTES - 10, "latin1");
    big.write(SECRET, 2 * WINDOW_BYTES - 5, "latin1");
    const dump = buildDump(big);
    const { out } = await mask(dump, 256 * 1024);
    compareMasked(dump, out);
    expectNoSecret(out);
    expect(readHprof(out).textRanges.length).toBe(readHprof(dump).textRanges.length);
  });

  it("refuses a dump with a record or sub-record it does not know, after passing on only what it judged", async () => {
    const dump = buildDump();
    const unknownTop = Buffer.concat([dump, record(0x99, Buffer.from(SECRET))]);
    await expect(mask(unknownTop, 4096)).rejects.toBeInstanceOf(HprofFormatError);
    const header = dump.subarray(0, 31);
    const unknownSub = Buffer.concat([header, record(0x1c, Buffer.concat([u1(0x89), Buffer.from(SECRET)]))]);
    await expect(mask(unknownSub, 4096)).rejects.toBeInstanceOf(HprofFormatError);
    await expect(mask(Buffer.from("not a dump at all, not at all!!!!"), 4096)).rejects.toBeInstanceOf(
      HprofFormatError,
    );
    // Cut short inside a record.
    await expect(mask(dump.subarray(0, dump.length - 30), 4096)).rejects.toBeInstanceOf(HprofFormatError);
  });
});

describe("changedRange", () => {
  it("an insertion without a changed stretch masks the whole text", () => {
    expect(changedRange("ab", "abab")).toEqual([0, 2]);
  });
  it("is the stretch between the common prefix and suffix of before and after", () => {
    expect(changedRange("abc", "abc")).toBeUndefined();
    expect(changedRange("key=hunter22 end", "key=⟦masked:x:0123456789ab⟧ end")).toEqual([4, 12]);
    expect(changedRange("abc", "⟦masked:x:0123456789ab⟧")).toEqual([0, 3]);
    expect(changedRange("abcabc", "abc")).toEqual([3, 6]);
  });
});
