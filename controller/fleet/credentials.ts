/**
 * The fleet's two secrets. An enrollment token (`khe_<id>_<secret>`) lets any agent holding it
 * register into one environment; an agent session (`khs_<secret>`) is what one enrolled agent beats
 * with. Like bearer tokens, only SHA-256 of a secret is stored and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { EnrollTokenRecord, FleetStore } from "../store/fleet-types.js";

const ENROLL_TOKEN_PATTERN = /^khe_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const SESSION_PATTERN = /^khs_([A-Za-z0-9_-]{43})$/;

/** Default lifetime of an enrollment token: one year (it sits in a Kubernetes Secret). */
export const DEFAULT_ENROLL_TOKEN_TTL_SECONDS = 365 * 86_400;

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function sameHash(expectedHex: string, secret: string): boolean {
  return timingSafeEqual(Buffer.from(expectedHex, "hex"), Buffer.from(hashSecret(secret), "hex"));
}

/** A new enrollment token and its record; the token is returned once and stored nowhere. */
export function mintEnrollToken(
  input: { environment: string; ttlSeconds: number; createdBy: string },
  now: number,
): { token: string; record: EnrollTokenRecord } {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return {
    token: `khe_${id}_${secret}`,
    record: {
      id,
      environment: input.environment,
      secretHash: hashSecret(secret),
      createdBy: input.createdBy,
      createdAt: now,
      expiresAt: now + input.ttlSeconds * 1000,
      revokedAt: undefined,
    },
  };
}

const DUMMY_HASH = hashSecret("keyhole-no-such-enroll-token");

/** The token's record when `token` is a live enrollment token; undefined for every other case alike. */
export async function verifyEnrollToken(
  store: FleetStore,
  token: string,
  now: number,
): Promise<EnrollTokenRecord | undefined> {
  const match = ENROLL_TOKEN_PATTERN.exec(token);
  if (!match) return undefined;
  const record = await store.getEnrollToken(match[1]!);
  const matches = sameHash(record?.secretHash ?? DUMMY_HASH, match[2]!);
  if (!record || !matches || record.revokedAt !== undefined || record.expiresAt <= now) return undefined;
  return record;
}

/** A new agent session secret and its hash. */
export function mintSession(): { session: string; hash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { session: `khs_${secret}`, hash: hashSecret(secret) };
}

/** True when `session` is the secret whose hash is `hash`. */
export function sessionMatches(hash: string | undefined, session: string): boolean {
  const match = SESSION_PATTERN.exec(session);
  return sameHash(hash ?? DUMMY_HASH, match?.[1] ?? "") && match !== null && hash !== undefined;
}
