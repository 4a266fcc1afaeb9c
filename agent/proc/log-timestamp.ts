/**
 * The leading timestamp of a log line, for log-tail's `since`. Exactly these are recognised, at
 * the very start of the line (no leading spaces), optionally inside `[` … `]`:
 *
 * - ISO-8601 / RFC 3339 date-times: `YYYY-MM-DD` then `T` or one space, `HH:MM`, optional `:SS`,
 *   optional fraction after `.` or `,` (any digits, kept to the millisecond), optional zone `Z`,
 *   `±HH`, `±HHMM` or `±HH:MM`. Without a zone the time is read as UTC (containers run in UTC;
 *   a local time would make the answer depend on the agent's TZ).
 * - Epoch numbers: exactly 10 digits (seconds, optional `.fraction`) or exactly 13 digits
 *   (milliseconds), followed by the end of the line, a space, `]`, `,`, `;` or `|`.
 * - JSON lines (pino, bunyan, most structured loggers): a line starting with `{` whose first
 *   512 characters hold `"time"`, `"timestamp"`, `"@timestamp"` or `"ts"` with an epoch number
 *   (seconds or milliseconds, as above) or a string in the ISO form above.
 *
 * Anything else has no leading timestamp. Only fixed, anchored patterns run here: the request
 * never supplies a regular expression.
 */
import { ISO_TIMESTAMP, isoMatchToMillis, parseIsoTimestamp } from "../../protocol/timestamp.js";

export { parseIsoTimestamp };

const EPOCH = /^(\d{13}|\d{10}(?:\.\d{1,9})?)(?=$|[\s\],;|])/;
const JSON_TIME =
  /"(?:@?timestamp|time|ts)"\s*:\s*(?:"([^"]{10,40})"|(\d{10}(?:\.\d{1,9})?|\d{13})(?![\d.]))/;
/** How far into a JSON line the time field is looked for: loggers put it first or nearly. */
const JSON_WINDOW = 512;

function epochToMillis(digits: string): number {
  // 13 digits are milliseconds; 10 (with an optional fraction) are seconds.
  return digits.length === 13 && !digits.includes(".") ? Number(digits) : Math.floor(Number(digits) * 1000);
}

/** Milliseconds since the epoch of `line`'s leading timestamp, or `undefined` when it has none. */
export function leadingTimestamp(line: string): number | undefined {
  const first = line.charCodeAt(0);
  // Cheap dispatch on the first character keeps this O(1) for lines that start with text.
  if (first === 0x7b /* { */) {
    const match = JSON_TIME.exec(line.slice(0, JSON_WINDOW));
    if (!match) return undefined;
    if (match[2] !== undefined) return epochToMillis(match[2]);
    return parseIsoTimestamp(match[1]!);
  }
  const text = first === 0x5b /* [ */ ? line.slice(1, 64) : line.slice(0, 64);
  const c = text.charCodeAt(0);
  if (!(c >= 0x30 && c <= 0x39)) return undefined;
  const iso = ISO_TIMESTAMP.exec(text);
  if (iso) return isoMatchToMillis(iso);
  const epoch = EPOCH.exec(text);
  return epoch ? epochToMillis(epoch[1]!) : undefined;
}
