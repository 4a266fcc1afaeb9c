/**
 * Keyed fingerprints of masked values: the first 12 hex digits of HMAC-SHA256(key, value).
 *
 * Keyed so that a fingerprint reveals nothing to someone without the key (an unkeyed hash of a
 * short password is a dictionary lookup away), yet stays equal wherever the same key is deployed:
 * two pods with the same DB_PASSWORD show the same fingerprint, and a rotated one shows a new one.
 * 48 bits tell values apart for comparison; they are far too few to confirm a guess offline
 * without the key anyway.
 */
import { createHmac } from "node:crypto";

/** Hex digits of the HMAC kept in a marker. */
export const FINGERPRINT_HEX_LENGTH = 12;

/** Fingerprints kept per key, and the longest value kept (a PEM body is fingerprinted once). */
const MAX_CACHED = 4096;
const MAX_CACHED_LENGTH = 512;

/** Returns the fingerprint function for one key. */
export function createFingerprinter(key: Uint8Array): (value: string) => string {
  if (key.length === 0) throw new Error("the fingerprint key must not be empty");
  // Copied so a caller that later zeroes or reuses its buffer does not change our fingerprints.
  const ownKey = Buffer.from(key);
  // The same secret recurs (a token on every request line): its HMAC is kept for a while. The
  // cache lives as long as the redactor, which holds the known values themselves anyway.
  const recent = new Map<string, string>();
  return (value) => {
    let fingerprint = recent.get(value);
    if (fingerprint === undefined) {
      fingerprint = createHmac("sha256", ownKey)
        .update(value, "utf8")
        .digest("hex")
        .slice(0, FINGERPRINT_HEX_LENGTH);
      if (recent.size >= MAX_CACHED) recent.clear();
      if (value.length <= MAX_CACHED_LENGTH) recent.set(value, fingerprint);
    }
    return fingerprint;
  };
}
