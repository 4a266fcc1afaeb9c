/**
 * A credential is accepted only when the audit chain issued it (issue 23 attack, N4: with the runtime
 * database role, anyone inserted rows into `tokens` and acted as whoever they named, four-eyes
 * included, with no record on the chain; the same role could raise a token's groups or clear its
 * revocation, and write enrollment tokens).
 *
 * An API token's row must match a `token.issued` record for its id (subject, groups, expiry and
 * secret hash), and an enrollment token's an `enroll-token.issued` record (environment, expiry and
 * secret hash); a `token.revoked` / `enroll-token.revoked` record ends it whatever the row says. Each
 * record read must still hash to its stored hash and be the one its successor links to. Tokens
 * issued before the secret hash was recorded are matched on the rest (docs/operations.md: re-issue
 * them).
 */
import { canonicalJson } from "../audit/canonical-json.js";
import { auditRecordHash } from "../audit/chain.js";
import type { EnrollTokenRecord } from "../store/fleet-types.js";
import type { LinkedAuditRecord, Store, TokenRecord } from "../store/types.js";

export type CredentialChainStore = Pick<Store, "listCredentialAudit">;

/** Why the chain does not back `token`'s row; undefined when it does. */
export async function tokenNotOnChain(
  store: CredentialChainStore,
  token: TokenRecord,
): Promise<string | undefined> {
  const records = (await store.listCredentialAudit(token.id)).filter(
    (r) => r.details.tokenId === token.id && intact(r),
  );
  if (records.some((r) => r.event === "token.revoked"))
    return `token ${token.id} is revoked on the audit chain`;
  const issued = records.find(
    (r) =>
      r.event === "token.issued" &&
      r.details.subject === token.subject &&
      canonicalJson(r.details.groups ?? []) === canonicalJson(token.groups) &&
      r.details.expiresAt === new Date(token.expiresAt).toISOString() &&
      (r.details.secretHash === undefined || r.details.secretHash === token.secretHash),
  );
  return issued ? undefined : `the audit chain holds no token.issued record matching token ${token.id}`;
}

/** Why the chain does not back an enrollment token's row; undefined when it does. */
export async function enrollTokenNotOnChain(
  store: CredentialChainStore,
  token: EnrollTokenRecord,
): Promise<string | undefined> {
  const records = (await store.listCredentialAudit(token.id)).filter(
    (r) => r.details.enrollTokenId === token.id && intact(r),
  );
  if (records.some((r) => r.event === "enroll-token.revoked"))
    return `enrollment token ${token.id} is revoked on the audit chain`;
  const issued = records.find(
    (r) =>
      r.event === "enroll-token.issued" &&
      r.details.environment === token.environment &&
      r.details.expiresAt === new Date(token.expiresAt).toISOString() &&
      (r.details.secretHash === undefined || r.details.secretHash === token.secretHash),
  );
  return issued
    ? undefined
    : `the audit chain holds no enroll-token.issued record matching enrollment token ${token.id}`;
}

/** The record still hashes to its hash, and its successor (if any) links to it. */
function intact(record: LinkedAuditRecord): boolean {
  const { hash, nextPrevHash, ...rest } = record;
  return auditRecordHash(rest) === hash && (nextPrevHash === undefined || nextPrevHash === hash);
}
