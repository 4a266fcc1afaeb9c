/**
 * The ISO-8601 / RFC 3339 date-times that a request's `since` param takes (and that log-tail
 * recognises at the start of a log line): `YYYY-MM-DD` then `T` or one space, `HH:MM`, optional
 * `:SS`, optional fraction after `.` or `,` (kept to the millisecond), optional zone `Z`, `±HH`,
 * `±HHMM` or `±HH:MM`. Without a zone the time is read as UTC.
 */

export const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?/;

/** Milliseconds since the epoch of a match of `ISO_TIMESTAMP`, or `undefined` when out of range. */
export function isoMatchToMillis(match: RegExpExecArray): number | undefined {
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  const millis = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, "0"));
  let offsetMinutes = 0;
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
  }
  return Date.UTC(Number(y), month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

/** Parses a whole string as one of the ISO forms above (used for the `since` param). */
export function parseIsoTimestamp(text: string): number | undefined {
  const match = ISO_TIMESTAMP.exec(text);
  if (!match || match[0].length !== text.length) return undefined;
  return isoMatchToMillis(match);
}
