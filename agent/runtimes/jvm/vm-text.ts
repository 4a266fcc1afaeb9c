/** Parsers of the VM.* commands' text: system properties, uptime, heap usage. */

/** Undoes java.util.Properties' escapes (`\:`, `\=`, `\\`, `\t`, `\n`, `\uXXXX`…). */
function unescapeProperty(text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e.length === 5) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (e === "t") return "\t";
    if (e === "n") return "\n";
    if (e === "r") return "\r";
    if (e === "f") return "\f";
    return e;
  });
}

/** `VM.system_properties`' lines as `[name, value]`, in order (its first line is a comment with the pid). */
export function parseSystemProperties(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    // The first = or : not escaped.
    const m = /^((?:[^\\=:]|\\.)*)[=:](.*)$/.exec(line);
    if (!m) continue;
    out.push([unescapeProperty(m[1]!), unescapeProperty(m[2]!)]);
  }
  return out;
}

/** `VM.uptime`: "12.345 s" → seconds; null when it says something else. */
export function parseUptime(text: string): number | null {
  const m = /([\d.]+)\s*s\b/.exec(text);
  return m ? Number(m[1]) : null;
}

const UNIT: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * The heap's used bytes from `GC.heap_info` (any collector: "used 7943K", "8692K used"), summed
 * over the heap's lines and not Metaspace's; null when no figure is found.
 */
export function parseHeapUsed(text: string): number | null {
  let total = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (/Metaspace|class space/.test(line)) continue;
    const m = /\bused (\d+)([KMG])\b/.exec(line) ?? /\b(\d+)([KMG]) used\b/.exec(line);
    if (!m) continue;
    total += Number(m[1]) * UNIT[m[2]!]!;
    found = true;
  }
  return found ? total : null;
}
