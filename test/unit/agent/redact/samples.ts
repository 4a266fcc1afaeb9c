/**
 * Expands the detector table's sample templates into format-valid fake tokens at test time, from a
 * seed, so the repository never holds a literal token that secret scanners would flag.
 */
import { createRedactor, type Redactor } from "../../../../agent/redact/index.js";

const SETS: Record<string, string> = {
  upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  lower: "abcdefghijklmnopqrstuvwxyz",
  digit: "0123456789",
  alnum: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  hex: "0123456789abcdef",
  b32: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
  b64: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
  b64url: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
  bech32: "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
};

/** mulberry32: a tiny seeded PRNG, so a failing sample can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Expands `{set:n}` placeholders with random characters of that set. */
export function expand(template: string, seed: number): string {
  const random = prng(seed);
  return template.replace(/\{([a-z0-9]{1,10}):([0-9]{1,4})\}/g, (_, set: string, count: string) => {
    const chars = SETS[set];
    if (!chars) throw new Error(`unknown sample set ${set}`);
    let out = "";
    for (let i = 0; i < Number(count); i++) out += chars[Math.floor(random() * chars.length)];
    return out;
  });
}

/** A fixed test key, and another one. */
export const KEY = new Uint8Array(32).fill(7);
export const OTHER_KEY = new Uint8Array(32).fill(9);

export function redactor(): Redactor {
  return createRedactor({ fingerprintKey: KEY });
}

/** Matches one marker and captures rule and fingerprint. */
export const MARKER = /⟦masked:([a-z0-9-]{1,40}):([0-9a-f]{12})⟧/;
export const MARKERS = /⟦masked:([a-z0-9-]{1,40}):([0-9a-f]{12})⟧/g;

/** The rules of the markers in `text`, in order. */
export function rulesIn(text: string): string[] {
  return [...text.matchAll(MARKERS)].map((m) => m[1]!);
}

/** A random-looking value that no detector recognises, for name-based tests. */
export function opaque(seed: number, length = 20): string {
  return expand(`{lower:3}{digit:2}{alnum:${length - 5}}`, seed);
}
