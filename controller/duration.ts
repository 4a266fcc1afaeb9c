/**
 * Durations as operators type them: `90` or `90s`, `30m`, `8h`, `7d`. One parser so the CLI, the
 * config and the tokens agree on what `8h` means.
 */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * Parses a duration into whole seconds. Throws a RangeError naming the accepted forms on anything
 * else, including zero and values above `maxSeconds`.
 */
export function parseDurationSeconds(text: string, maxSeconds = 365 * 86_400): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!match)
    throw new RangeError(`invalid duration "${text}": use seconds or a number with s, m, h or d (e.g. 8h)`);
  const unit = (match[2] || "s") as keyof typeof UNIT_SECONDS;
  const seconds = Number(match[1]) * UNIT_SECONDS[unit];
  if (seconds < 1) throw new RangeError(`invalid duration "${text}": must be at least 1 second`);
  if (seconds > maxSeconds)
    throw new RangeError(`invalid duration "${text}": must be at most ${maxSeconds} seconds`);
  return seconds;
}
