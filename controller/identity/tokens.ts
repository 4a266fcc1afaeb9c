/**
 * Controller-issued bearer tokens: `kh_<id>_<secret>`, the id 16 hex characters (the lookup key, safe
 * to log and audit), the secret 32 random bytes in base64url. Only SHA-256 of the secret is stored and
 * it is compared in constant time, so a copy of the database cannot be replayed as a credential.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Store, TokenRecord } from "../store/types.js";
import { tokenNotOnChain } from "./credential-chain.js";
import type { Principal } from "./principal.js";
import { canonicalGroup, canonicalGroupSchema, canonicalSubject, canonicalSubjectSchema } from "./subject.js";

const TOKEN_PATTERN = /^kh_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Default lifetime of an issued token: one working day. */
export const DEFAULT_TOKEN_TTL_SECONDS = 8 * 3600;

export const groupsSchema = z
  .array(canonicalGroupSchema)
  .max(64)
  .transform((groups) => [...new Set(groups)]);

/** Validated input for a new token: the subject and groups are stored in their canonical form. */
export const newTokenSchema = z.strictObject({
  subject: canonicalSubjectSchema,
  groups: groupsSchema.default([]),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(365 * 86_400)
    .default(DEFAULT_TOKEN_TTL_SECONDS),
});

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Makes a token and the record to store for it; the token string is returned once and never stored. */
export function mintToken(
  input: { subject: string; groups: readonly string[]; ttlSeconds: number },
  now: number,
): { token: string; record: TokenRecord } {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return {
    token: `kh_${id}_${secret}`,
    record: {
      id,
      subject: input.subject,
      groups: [...input.groups],
      secretHash: hashSecret(secret),
      createdAt: now,
      expiresAt: now + input.ttlSeconds * 1000,
      revokedAt: undefined,
    },
  };
}

// Compared against when the id is unknown, so an unknown id costs the same as a wrong secret.
const DUMMY_HASH = hashSecret("keyhole-no-such-token");

/**
 * The principal a token stands for, or undefined when it is malformed, unknown, wrong, expired or
 * revoked: callers answer all of these alike.
 */
export async function verifyToken(store: Store, token: string, now: number): Promise<Principal | undefined> {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return undefined;
  const [, id, secret] = match as unknown as [string, string, string];
  const record = await store.getToken(id);
  const expected = Buffer.from(record?.secretHash ?? DUMMY_HASH, "hex");
  const actual = Buffer.from(hashSecret(secret), "hex");
  const secretMatches = timingSafeEqual(expected, actual);
  if (!record || !secretMatches || record.revokedAt !== undefined || record.expiresAt <= now)
    return undefined;
  // The row alone proves nothing: its issuance must be on the audit chain (issue 23 attack, N4).
  if (await tokenNotOnChain(store, record)) return undefined;
  // Tokens issued before subjects were canonicalised may hold `user:Alice@…`: they act as the one
  // canonical person, and one whose subject has no canonical form proves nothing.
  const subject = canonicalSubject(record.subject);
  if ("problem" in subject) return undefined;
  const groups = [...new Set(record.groups.map(canonicalGroup).filter((g) => g !== undefined))];
  return {
    subject: subject.subject,
    groups,
    credential: { kind: "token", id: record.id, expiresAt: record.expiresAt },
  };
}
