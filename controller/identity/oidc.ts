/**
 * OIDC ID tokens as bearer credentials. The issuer's discovery document names its JWKS; jose's
 * `createRemoteJWKSet` fetches, caches and refreshes it (an unknown `kid` triggers a refetch, at most
 * once per cooldown), which is how a rotated issuer key is picked up without a restart. A token must
 * carry the configured issuer and audience, be in its validity window, and name an email; it maps to
 * `user:<email>` and, through the configured claim, to `group:<name>` memberships.
 */
import type { FastifyBaseLogger } from "fastify";
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import type { Authenticator, Principal } from "./principal.js";
import { canonicalGroup, canonicalSubject } from "./subject.js";

/** Asymmetric algorithms only: an HMAC ID token would be verified with a secret we do not have. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

export interface OidcOptions {
  readonly issuer: string;
  readonly audience: string;
  /** The claim holding the caller's groups (an array of names, or one name). */
  readonly groupsClaim: string;
  readonly log: FastifyBaseLogger;
  /** How long a fetched key set is used before it is fetched again (default 10 minutes). */
  readonly cacheMaxAgeMs?: number;
  /** The least time between two refetches forced by an unknown `kid` (default 30 s). */
  readonly cooldownMs?: number;
  /** Each discovery or JWKS fetch (default 5 s). */
  readonly timeoutMs?: number;
  /** Clock skew tolerated on `exp`, `iat` and `nbf` (default 30 s). */
  readonly clockToleranceSeconds?: number;
  /** Seconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** True for a compact JWS (three base64url parts), which is the only shape an ID token can have. */
export function looksLikeJwt(bearer: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(bearer);
}

/** Loopback http is allowed for local and test issuers; anything else must be https. */
function isAllowedUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  } catch {
    return false;
  }
}

/**
 * Maps verified claims to a principal, or returns why it cannot. Identity comes only from a claim the
 * issuer vouches for: `email` with `email_verified: true` (the boolean, not a string; a missing claim
 * is not a yes, OIDC Core §5.1). The address must have a canonical subject (identity/subject.ts):
 * one with a look-alike letter or a space is refused, never folded into someone else's.
 */
export function principalFromClaims(
  payload: JWTPayload,
  groupsClaim: string,
): { principal: Omit<Principal, "credential">; droppedGroups: number } | { refused: string } {
  const email = payload.email;
  if (typeof email !== "string" || email === "") return { refused: "no email claim" };
  if (payload.email_verified !== true) return { refused: "email not verified" };
  const canonical = canonicalSubject(`user:${email}`);
  if ("problem" in canonical) return { refused: "email claim has no canonical subject" };
  const subject = canonical.subject;
  const raw = payload[groupsClaim];
  const names = typeof raw === "string" ? [raw] : Array.isArray(raw) ? raw : [];
  const groups = [
    ...new Set(
      names
        .map((g) => (typeof g === "string" ? canonicalGroup(g) : undefined))
        .filter((g) => g !== undefined),
    ),
  ].slice(0, 64);
  return { principal: { subject, groups }, droppedGroups: names.length - groups.length };
}

/**
 * An Authenticator for ID tokens of one issuer. Discovery happens on first use and is retried (at
 * most every `cooldownMs`) until it succeeds, so the controller starts even while the issuer is down.
 */
export function createOidcAuthenticator(options: OidcOptions): Authenticator & { ready(): Promise<void> } {
  const { issuer, audience, groupsClaim, log } = options;
  const timeoutMs = options.timeoutMs ?? 5000;
  const cooldownMs = options.cooldownMs ?? 30_000;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  let lastFailureAt = Number.NEGATIVE_INFINITY;

  async function discover(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
    if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
    const doc = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly the one configured.
    if (doc.issuer !== issuer) throw new Error(`discovery names issuer ${JSON.stringify(doc.issuer)}`);
    if (typeof doc.jwks_uri !== "string" || !isAllowedUrl(doc.jwks_uri))
      throw new Error("discovery has no usable jwks_uri (https, or http on loopback)");
    return createRemoteJWKSet(new URL(doc.jwks_uri), {
      timeoutDuration: timeoutMs,
      cooldownDuration: cooldownMs,
      cacheMaxAge: options.cacheMaxAgeMs ?? 600_000,
    });
  }

  async function keySet(): Promise<ReturnType<typeof createRemoteJWKSet> | undefined> {
    if (jwks) return jwks;
    if (!discovering) {
      if (Date.now() - lastFailureAt < cooldownMs) return undefined;
      discovering = discover();
    }
    try {
      jwks = await discovering;
      log.info({ issuer }, "OIDC discovery done");
      return jwks;
    } catch (err) {
      lastFailureAt = Date.now();
      log.warn(
        { issuer, err: (err as Error).message },
        "OIDC discovery failed; ID tokens are refused until it works",
      );
      return undefined;
    } finally {
      discovering = undefined;
    }
  }

  return {
    async ready() {
      if (!(await keySet())) throw new Error(`OIDC discovery of ${issuer} failed`);
    },
    async authenticate(bearer: string): Promise<Principal | undefined> {
      if (!looksLikeJwt(bearer)) return undefined;
      const keys = await keySet();
      if (!keys) return undefined;
      let payload: JWTPayload;
      let typ: string | undefined;
      try {
        let protectedHeader: { typ?: string };
        ({ payload, protectedHeader } = await jwtVerify(bearer, keys, {
          issuer,
          audience,
          algorithms: ALGORITHMS,
          clockTolerance: options.clockToleranceSeconds ?? 30,
          requiredClaims: ["exp", "iat", "sub"],
          ...(options.now ? { currentDate: new Date(options.now() * 1000) } : {}),
        }));
        typ = protectedHeader.typ;
      } catch (err) {
        // The reason helps an operator set OIDC up; the token itself is never logged.
        log.info({ oidc: (err as { code?: string }).code ?? (err as Error).name }, "ID token refused");
        return undefined;
      }
      // An ID token, not an access token of the same issuer (RFC 9068 marks those `at+jwt`).
      if (typ !== undefined && typ.toLowerCase() !== "jwt") {
        log.info({ oidc: "typ" }, "ID token refused");
        return undefined;
      }
      // With several audiences, the authorized party must be us (OIDC Core §3.1.3.7).
      if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== audience) {
        log.info({ oidc: "azp" }, "ID token refused");
        return undefined;
      }
      const mapped = principalFromClaims(payload, groupsClaim);
      if ("refused" in mapped) {
        log.info({ oidc: mapped.refused }, "ID token refused");
        return undefined;
      }
      if (mapped.droppedGroups > 0)
        log.debug({ dropped: mapped.droppedGroups }, "ID token groups that are not group names were ignored");
      return {
        ...mapped.principal,
        credential: {
          kind: "oidc",
          id: String(payload.sub).slice(0, 200),
          // `exp` is required above: a session opened with this ID token ends with it.
          expiresAt: Number(payload.exp) * 1000,
        },
      };
    },
  };
}

/** Tries each authenticator in turn: controller tokens (`kh_…`) first, then ID tokens. */
export function chainAuthenticators(...authenticators: readonly Authenticator[]): Authenticator {
  return {
    async authenticate(bearer) {
      for (const authenticator of authenticators) {
        const principal = await authenticator.authenticate(bearer);
        if (principal) return principal;
      }
      return undefined;
    },
  };
}
