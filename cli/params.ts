/** `--param k=v` parsing: JSON values where they parse (numbers, booleans, arrays), strings otherwise. */
import { usageError } from "./errors.js";

const KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function parseParams(pairs: readonly string[]): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw usageError(`--param ${JSON.stringify(pair)}: expected key=value`);
    const key = pair.slice(0, eq);
    if (!KEY.test(key))
      throw usageError(`--param ${JSON.stringify(pair)}: ${JSON.stringify(key)} is not a parameter name`);
    if (Object.hasOwn(params, key)) throw usageError(`--param ${key} is given twice`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    if (/^(-?\d+(\.\d+)?|true|false|null|\[.*\]|\{.*\})$/s.test(raw)) {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    params[key] = value;
  }
  return params;
}

/** `--param a=1 --param b=2` arrives as repeated values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
