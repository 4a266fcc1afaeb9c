/**
 * The bearer-token gate of every `/v1` route. Missing, malformed, unknown, expired and revoked tokens
 * all get the same 401, so the answer reveals nothing about which tokens exist.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ControllerError } from "../errors.js";
import type { Authenticator, Principal } from "../identity/principal.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** Adds an onRequest hook to `scope` that sets `request.principal` or refuses with KH_UNAUTHENTICATED. */
export function requireBearer(scope: FastifyInstance, authenticator: Authenticator): void {
  // Declared up front so every request object has the same shape (Fastify's advice for speed).
  scope.decorateRequest("principal", undefined);
  scope.addHook("onRequest", async (request) => {
    // 8 KiB: OIDC ID tokens with many groups run to a few KiB; controller tokens are 77 characters.
    const match = /^Bearer +(\S{1,8192})\s*$/i.exec(request.headers.authorization ?? "");
    const principal = match ? await authenticator.authenticate(match[1]!) : undefined;
    if (!principal) throw new ControllerError("KH_UNAUTHENTICATED", "a valid bearer token is required");
    request.principal = principal;
    request.log = request.log.child({
      subject: principal.subject,
      ...(principal.credential.kind === "token"
        ? { tokenId: principal.credential.id }
        : { oidcSub: principal.credential.id }),
    });
  });
}

/** The authenticated caller; only valid inside a scope guarded by `requireBearer`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new ControllerError("KH_UNAUTHENTICATED", "a valid bearer token is required");
  return request.principal;
}
