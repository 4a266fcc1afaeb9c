/** The Authenticator for controller-issued bearer tokens. */
import type { Store } from "../store/types.js";
import type { Authenticator } from "./principal.js";
import { verifyToken } from "./tokens.js";

/** Authenticates `kh_…` tokens against the store; `now` is injectable for tests. */
export function createTokenAuthenticator(store: Store, now: () => number = Date.now): Authenticator {
  return { authenticate: (bearer) => verifyToken(store, bearer, now()) };
}
