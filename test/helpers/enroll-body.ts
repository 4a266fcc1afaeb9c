/**
 * An enrollment body as a real agent sends it (agent/enroll.ts): the given fields, the agent's
 * public key and a fresh proof that it holds the key (issue 21). One ephemeral identity per test
 * module unless one is passed, so re-enrollments of an id present the same key.
 */
import { signedEnrollRequest } from "../../agent/enroll.js";
import { type AgentIdentity, ephemeralIdentity } from "../../agent/identity.js";
import type { EnrollRequest } from "../../protocol/fleet.js";

/** The key `enrollBody` enrolls with unless given another: a test signs "the agent's" answers with it. */
export const testAgentIdentity = ephemeralIdentity();
const shared = testAgentIdentity;

export function enrollBody(
  body: Record<string, unknown>,
  identity: AgentIdentity = shared,
  now = Date.now(),
): EnrollRequest {
  return signedEnrollRequest(body as Omit<EnrollRequest, "publicKey" | "proof">, identity, now);
}
