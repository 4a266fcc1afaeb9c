/**
 * The console's login with the configured OpenID provider: the authorization code flow with PKCE
 * (S256), a `state` bound to the browser by a cookie and a `nonce` bound to the ID token, done by
 * openid-client. The ID token it returns is then put through the very Authenticator that checks
 * ID tokens presented to the API (identity/oidc.ts: issuer, audience, signature against the
 * issuer's keys, `email_verified`, the groups claim), so a console session stands for the same
 * canonical subject and groups as that person's API calls.
 */
import { createHash } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import * as client from "openid-client";
import type { Authenticator, Principal } from "../identity/principal.js";

export interface ConsoleOidc {
  /** Where to send the browser, and the state cookie value that binds the callback to it. */
  begin(next: string): Promise<{ url: string; state: string }>;
  /** Exchanges the callback's code (checked against the state cookie) for the signed-in principal. */
  complete(
    callbackUrl: string,
    stateCookie: string | undefined,
  ): Promise<{ principal: Principal; next: string } | { refused: string }>;
}

export interface ConsoleOidcOptions {
  readonly issuer: string;
  /** The client id registered at the provider (the API's `--oidc-audience`). */
  readonly clientId: string;
  /** The console's origin (`--public-url`); the redirect URI is `<origin>/ui/login/callback`. */
  readonly publicUrl: string;
  /** The API's ID-token authenticator: the one mapping from claims to a principal. */
  readonly idTokens: Authenticator;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
}

/** A login started and not finished: at most this long, and this many at once. */
const PENDING_MS = 10 * 60_000;
const MAX_PENDING = 1000;

interface Pending {
  readonly verifier: string;
  readonly nonce: string;
  readonly next: string;
  readonly at: number;
}

const isLoopback = (url: string) => ["127.0.0.1", "[::1]", "localhost"].includes(new URL(url).hostname);

export function createConsoleOidc(options: ConsoleOidcOptions): ConsoleOidc {
  const redirectUri = `${options.publicUrl}/ui/login/callback`;
  const pending = new Map<string, Pending>();
  let configuration: Promise<client.Configuration> | undefined;

  // Discovered on first use (and again after a failure), so the controller starts while the provider is down.
  function config(): Promise<client.Configuration> {
    configuration ??= client
      .discovery(new URL(options.issuer), options.clientId, undefined, client.None(), {
        // http only for a provider on loopback (tests, local set-ups), as for the API's ID tokens.
        ...(isLoopback(options.issuer) ? { execute: [client.allowInsecureRequests] } : {}),
        timeout: 5,
      })
      .catch((err: unknown) => {
        configuration = undefined;
        throw err;
      });
    return configuration;
  }

  const keyOf = (state: string) => createHash("sha256").update(state).digest("hex");

  return {
    async begin(next) {
      const now = options.now();
      for (const [key, p] of pending) if (now - p.at > PENDING_MS) pending.delete(key);
      if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      pending.set(keyOf(state), { verifier, nonce, next, at: now });
      const url = client.buildAuthorizationUrl(await config(), {
        redirect_uri: redirectUri,
        scope: "openid email profile groups",
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state,
        nonce,
      });
      return { url: url.href, state };
    },

    async complete(callbackUrl, stateCookie) {
      const current = new URL(callbackUrl, options.publicUrl);
      const state = current.searchParams.get("state");
      // The state must be the one this browser was given (its cookie), and one we are waiting for.
      if (!state || !stateCookie || state !== stateCookie)
        return { refused: "the sign-in did not start here; try again" };
      const key = keyOf(state);
      const started = pending.get(key);
      pending.delete(key);
      if (!started || options.now() - started.at > PENDING_MS)
        return { refused: "the sign-in took too long or was already used; try again" };
      let idToken: string | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(await config(), current, {
          pkceCodeVerifier: started.verifier,
          expectedState: state,
          expectedNonce: started.nonce,
          idTokenExpected: true,
        });
        idToken = tokens.id_token;
      } catch (err) {
        options.log.info(
          { oidc: (err as { code?: string }).code ?? (err as Error).name },
          "console OIDC sign-in refused",
        );
        return { refused: "the identity provider's answer could not be accepted; try again" };
      }
      const principal = idToken ? await options.idTokens.authenticate(idToken) : undefined;
      if (!principal)
        return {
          refused:
            "the identity provider signed you in, but its ID token names no verified email keyhole accepts",
        };
      return { principal, next: started.next };
    },
  };
}
