/**
 * The JVM's performance data file (`hsperfdata_<user>/<pid>` in its /tmp), read through
 * /proc/<pid>/root: the one place a HotSpot JVM states, without being signalled, whether its
 * attach mechanism is on (`sun.rt.jvmCapabilities`, first character `1`; `0` under
 * -XX:+DisableAttachMechanism). This is what `jps` and the JDK's attach provider read too.
 *
 * Layout (HotSpot's perfMemory.hpp): a 32-byte prologue (magic 0xcafec0c0, byte order, version,
 * entry offset and count) followed by entries of {length, name offset, vector length, type, flags,
 * units, variability, data offset}, each name NUL-terminated. Only byte-vector ("string") entries
 * are decoded.
 */
import { readdirSync, readFileSync } from "node:fs";

const MAGIC = 0xcafec0c0;
/** A perf data file is 32 KiB by default (-XX:PerfDataMemorySize); anything far larger is not one. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** Decodes the string entries of a perf data file; undefined when it is not one. */
export function parsePerfStrings(data: Buffer): Map<string, string> | undefined {
  if (data.length < 32 || data.readUInt32BE(0) !== MAGIC) return undefined;
  const little = data[4] === 1;
  const u32 = (at: number) => (little ? data.readInt32LE(at) : data.readInt32BE(at));
  const entryOffset = u32(24);
  const count = u32(28);
  const out = new Map<string, string>();
  let at = entryOffset;
  for (let i = 0; i < count && at + 20 <= data.length; i++) {
    const length = u32(at);
    if (length <= 0 || at + length > data.length) break;
    const nameOffset = u32(at + 4);
    const vectorLength = u32(at + 8);
    const type = data[at + 12];
    const dataOffset = u32(at + 16);
    const nameEnd = data.indexOf(0, at + nameOffset);
    if (nameEnd > at && nameEnd < at + length && type === 0x42 /* 'B' */ && vectorLength > 0) {
      const name = data.toString("latin1", at + nameOffset, nameEnd);
      const start = at + dataOffset;
      const raw = data.subarray(start, Math.min(start + vectorLength, at + length));
      const nul = raw.indexOf(0);
      out.set(name, raw.toString("latin1", 0, nul < 0 ? raw.length : nul));
    }
    at += length;
  }
  return out;
}

/** What the perf data file says about attaching. */
export type PerfAttach =
  | { readonly found: false }
  | { readonly found: true; readonly attachable: boolean; readonly file: string };

/**
 * Looks for `<root>/tmp/hsperfdata_*\/<nspid>` of the target and reads its capabilities. Not found
 * when the JVM runs with -XX:-UsePerfData, uses another temp directory, or the files cannot be read.
 */
export function readPerfAttach(pid: number, nspid: number, procRoot = "/proc"): PerfAttach {
  const tmp = `${procRoot}/${pid}/root/tmp`;
  let dirs: string[];
  try {
    dirs = readdirSync(tmp).filter((d) => d.startsWith("hsperfdata_"));
  } catch {
    return { found: false };
  }
  for (const dir of dirs) {
    const file = `${tmp}/${dir}/${nspid}`;
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue;
    }
    if (data.length > MAX_FILE_BYTES) continue;
    const capabilities = parsePerfStrings(data)?.get("sun.rt.jvmCapabilities");
    if (capabilities === undefined) continue;
    return { found: true, attachable: capabilities.startsWith("1"), file };
  }
  return { found: false };
}
