/**
 * Duplicate member names in JSON. `JSON.parse` keeps the last of two equal names, while other
 * parsers keep the first or refuse: a signed envelope whose claims say `"action": "env"` and then
 * `"action": "process-info"` would mean one thing to the agent and another to a reviewer reading
 * the token with another tool. RFC 7515 §5.2 lets a JWS consumer refuse such a header or payload,
 * and keyhole does (issue 16, attacker's pass: the agent accepted duplicate keys).
 */

/**
 * The first member name that occurs twice in one object of `text`, at any depth; undefined when
 * there is none. `text` must already have parsed as JSON (JSON.parse validates it; this only
 * scans). Escaped names compare by what they decode to, so `"a"` and `"\u0061"` are one name.
 * Linear in the text.
 */
export function repeatedJsonKey(text: string): string | undefined {
  /** One entry per open container: the names seen so far in an object, null in an array. */
  const open: (Set<string> | null)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      // Bounded by the text's end too, should a caller ever pass text JSON.parse did not accept.
      for (; end < text.length; ) {
        const d = text.charCodeAt(end);
        if (d === 0x22) break;
        if (d === 0x5c /* \ */) {
          escaped = true;
          end += 2;
        } else end += 1;
      }
      const names = open.at(-1);
      if (expectName && names) {
        const name = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        if (names.has(name)) return name;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      expectName = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = open.at(-1) != null;
    }
  }
  return undefined;
}
