/**
 * An HPROF reader for the tests, written apart from the agent's streaming masker
 * (agent/runtimes/jvm/hprof-masker.ts) so that one checks the other: it reads a whole dump in
 * memory, lists every record and heap sub-record with its offset and length, the byte ranges that
 * hold text (UTF8 symbols, byte[] and char[] contents), and decodes every java.lang.String the way
 * the JVM holds it (its `value` array and `coder`).
 */

export interface Hprof {
  readonly idSize: number;
  /** Top-level records: tag, offset of the tag byte, body length. */
  readonly records: { tag: number; offset: number; length: number }[];
  /** Heap dump sub-records: tag and offset of the tag byte, and where the next one starts. */
  readonly subRecords: { tag: number; offset: number; end: number }[];
  /** [from, to) of every text: UTF8 bodies after the id, byte[] and char[] contents. */
  readonly textRanges: [number, number][];
  /** Every String instance, decoded. */
  readonly strings: string[];
}

const SIZES: Record<number, number> = { 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8 };

export function readHprof(buf: Buffer): Hprof {
  const nul = buf.indexOf(0);
  if (!buf.toString("latin1", 0, nul).startsWith("JAVA PROFILE")) throw new Error("not an HPROF");
  const idSize = buf.readUInt32BE(nul + 1);
  const readId = (at: number) => (idSize === 8 ? buf.readBigUInt64BE(at) : BigInt(buf.readUInt32BE(at)));
  const size = (type: number) => (type === 2 ? idSize : SIZES[type]!);
  const records: Hprof["records"] = [];
  const subRecords: Hprof["subRecords"] = [];
  const textRanges: [number, number][] = [];
  const utf8 = new Map<bigint, string>();
  const classNames = new Map<bigint, bigint>(); // class object id → name id
  const instanceFields = new Map<bigint, { super: bigint; fields: number[] }>();
  const stringInstances: { classId: bigint; at: number; length: number }[] = [];
  const arrays = new Map<bigint, { type: number; from: number; to: number }>();

  let at = nul + 1 + 4 + 8;
  while (at < buf.length) {
    const tag = buf[at]!;
    const length = buf.readUInt32BE(at + 5);
    records.push({ tag, offset: at, length });
    const body = at + 9;
    const end = body + length;
    if (tag === 0x01) {
      utf8.set(readId(body), buf.toString("utf8", body + idSize, end));
      textRanges.push([body + idSize, end]);
    } else if (tag === 0x02) {
      classNames.set(readId(body + 4), readId(body + 8 + idSize));
    } else if (tag === 0x0c || tag === 0x1c) {
      let p = body;
      while (p < end) {
        const sub = buf[p]!;
        const start = p;
        p++;
        switch (sub) {
          case 0xff:
          case 0x05:
          case 0x07:
            p += idSize;
            break;
          case 0x01:
            p += 2 * idSize;
            break;
          case 0x02:
          case 0x03:
          case 0x08:
            p += idSize + 8;
            break;
          case 0x04:
          case 0x06:
            p += idSize + 4;
            break;
          case 0x20: {
            const classId = readId(p);
            const superId = readId(p + idSize + 4);
            p += 7 * idSize + 8;
            const pool = buf.readUInt16BE(p);
            p += 2;
            for (let i = 0; i < pool; i++) p += 3 + size(buf[p + 2]!);
            const statics = buf.readUInt16BE(p);
            p += 2;
            for (let i = 0; i < statics; i++) p += idSize + 1 + size(buf[p + idSize]!);
            const count = buf.readUInt16BE(p);
            p += 2;
            const fields: number[] = [];
            for (let i = 0; i < count; i++) {
              fields.push(buf[p + idSize]!);
              p += idSize + 1;
            }
            instanceFields.set(classId, { super: superId, fields });
            break;
          }
          case 0x21: {
            const classId = readId(p + idSize + 4);
            const n = buf.readUInt32BE(p + 2 * idSize + 4);
            stringInstances.push({ classId, at: p + 2 * idSize + 8, length: n });
            p += 2 * idSize + 8 + n;
            break;
          }
          case 0x22: {
            const count = buf.readUInt32BE(p + idSize + 4);
            p += 2 * idSize + 8 + count * idSize;
            break;
          }
          case 0x23: {
            const id = readId(p);
            const count = buf.readUInt32BE(p + idSize + 4);
            const type = buf[p + idSize + 8]!;
            const from = p + idSize + 9;
            const to = from + count * size(type);
            if (type === 5 || type === 8) {
              textRanges.push([from, to]);
              arrays.set(id, { type, from, to });
            }
            p = to;
            break;
          }
          default:
            throw new Error(`unknown sub-record 0x${sub.toString(16)} at ${start}`);
        }
        subRecords.push({ tag: sub, offset: start, end: p });
      }
      if (p !== end) throw new Error(`segment at ${at} overruns`);
    }
    at = end;
  }

  // java.lang.String: its class id, and the offsets of `value` and `coder` in an instance's fields.
  let stringClass: bigint | undefined;
  for (const [classId, nameId] of classNames)
    if (utf8.get(nameId) === "java/lang/String") stringClass = classId;
  const strings: string[] = [];
  if (stringClass !== undefined) {
    const layout = instanceFields.get(stringClass)!;
    // value (object), coder (byte), hash (int), hashIsZero (boolean) in JDK 17; found by type order.
    let offset = 0;
    let valueAt = -1;
    let coderAt = -1;
    for (const type of layout.fields) {
      if (type === 2 && valueAt < 0) valueAt = offset;
      if (type === 8 && coderAt < 0) coderAt = offset;
      offset += size(type);
    }
    for (const inst of stringInstances) {
      if (inst.classId !== stringClass) continue;
      const valueId = readId(inst.at + valueAt);
      const coder = coderAt >= 0 ? buf[inst.at + coderAt]! : 1;
      const array = arrays.get(valueId);
      if (!array) continue;
      if (array.type === 5) {
        const copy = Buffer.from(buf.subarray(array.from, array.to));
        strings.push(copy.swap16().toString("utf16le"));
      } else {
        strings.push(buf.toString(coder === 0 ? "latin1" : "utf16le", array.from, array.to));
      }
    }
  }
  textRanges.sort((a, b) => a[0] - b[0]);
  return { idSize, records, subRecords, textRanges, strings };
}

/**
 * Compares a masked dump with its original: the same records and sub-records at the same offsets
 * with the same lengths, and every byte that differs inside a text range. Returns how many bytes
 * differ; throws naming the first difference outside text.
 */
export function compareMasked(
  original: Buffer,
  masked: Buffer,
): { changedBytes: number; original: Hprof; masked: Hprof } {
  if (original.length !== masked.length)
    throw new Error(`lengths differ: ${original.length} vs ${masked.length}`);
  const a = readHprof(original);
  const b = readHprof(masked);
  if (JSON.stringify(a.records) !== JSON.stringify(b.records)) throw new Error("the records differ");
  if (a.subRecords.length !== b.subRecords.length) throw new Error("the sub-record counts differ");
  for (let i = 0; i < a.subRecords.length; i++) {
    const x = a.subRecords[i]!;
    const y = b.subRecords[i]!;
    if (x.tag !== y.tag || x.offset !== y.offset || x.end !== y.end) {
      throw new Error(`sub-record ${i} differs: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
    }
  }
  const ranges = a.textRanges;
  const inText = (pos: number) => {
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [from, to] = ranges[mid]!;
      if (pos < from) hi = mid - 1;
      else if (pos >= to) lo = mid + 1;
      else return true;
    }
    return false;
  };
  let changedBytes = 0;
  const block = 4096;
  for (let start = 0; start < original.length; start += block) {
    const end = Math.min(start + block, original.length);
    if (original.compare(masked, start, end, start, end) === 0) continue;
    for (let i = start; i < end; i++) {
      if (original[i] === masked[i]) continue;
      if (!inText(i)) throw new Error(`byte ${i} changed outside any text`);
      changedBytes++;
    }
  }
  return { changedBytes, original: a, masked: b };
}

/** `secret` as the JVM may hold it in bytes: Latin-1/UTF-8, UTF-16LE (byte[]) and UTF-16BE (char[] in HPROF). */
export function encodingsOf(secret: string): Buffer[] {
  const be = Buffer.from(secret, "utf16le");
  return [Buffer.from(secret, "latin1"), Buffer.from(secret, "utf16le"), Buffer.from(be).swap16()];
}
