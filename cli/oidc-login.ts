/**
 * `keyhole login --issuer …`: signing in with the organisation's OpenID provider from a terminal.
 * Two ways, both with openid-client (the console's own login uses it too):
 *
 * - **browser**: the authorization code flow with PKCE (S256), `state` and `nonce`, redirecting to a
 *   one-shot HTTP listener on 127.0.0.1 (RFC 8252 §7.3: register `http://127.0.0.1/callback` for a
 *   native client; the provider ignores the port). The page is opened with the desktop's opener
 *   when there is one, and its address is always printed.
 * - **device** (RFC 8628) for machines without a browser: a code to enter on another device.
 *
 * The result is the provider's ID token, which the controller accepts as a bearer (the same check
 * as for every API call: issuer, audience = the client id, signature, verified email, groups). It
 * lives as long as the provider made it; `keyhole login` again when it has run out.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as client from "openid-client";
import { CliError, usageError } from "./errors.js";

export interface OidcLoginOptions {
  readonly issuer: string;
  /** The client id registered at the provider: the controller's `--oidc-audience`. */
  readonly clientId: string;
  /** Open the page with the desktop's opener (xdg-open, open); it is printed either way. */
  readonly openBrowser: boolean;
  /** How long to wait for the person to sign in. */
  readonly timeoutMs: number;
  /** Tells the person what to do (stderr). */
  readonly tell: (text: string) => void;
}

export interface OidcLoginResult {
  readonly idToken: string;
  /** The ID token's `exp`, in ms since the epoch. */
  readonly expiresAt: number | undefined;
}

const SCOPE = "openid email profile groups";
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

const oidcError = (message: string, cause?: unknown) =>
  new CliError(message, 1, "KH_OIDC", cause === undefined ? undefined : { cause });

/** The provider's configuration; http only for a provider on loopback (tests, local set-ups). */
async function discover(issuer: string, clientId: string): Promise<client.Configuration> {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw usageError(`--issuer must be a URL, not "${issuer}"`);
  }
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback))
    throw usageError("--issuer must be https (http only on 127.0.0.1 or localhost)");
  try {
    return await client.discovery(url, clientId, undefined, client.None(), {
      ...(loopback ? { execute: [client.allowInsecureRequests] } : {}),
      timeout: 10,
    });
  } catch (err) {
    throw oidcError(`cannot discover the identity provider at ${issuer}: ${(err as Error).message}`, err);
  }
}

function resultOf(
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
): OidcLoginResult {
  if (!tokens.id_token) throw oidcError("the identity provider answered without an ID token");
  const exp = tokens.claims()?.exp;
  return { idToken: tokens.id_token, expiresAt: typeof exp === "number" ? exp * 1000 : undefined };
}

/** Opens `url` with the desktop's opener, if there is one; never fails the login. */
function openInBrowser(url: string): void {
  const opener =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  try {
    const child = spawn(opener, [url], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // No opener: the printed address is enough.
  }
}

const DONE_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><title>keyhole</title>
<p>Signed in. You can close this page and go back to the terminal.</p></html>`;

/** The authorization code flow with PKCE through a one-shot listener on 127.0.0.1. */
export async function loginWithBrowser(options: OidcLoginOptions): Promise<OidcLoginResult> {
  const config = await discover(options.issuer, options.clientId);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    options.tell(`sign in with your identity provider in the browser:\n  ${url.href}`);
    if (options.openBrowser) openInBrowser(url.href);
    const callback = await new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new CliError(`no sign-in within ${Math.round(options.timeoutMs / 1000)} s`, 1, "KH_OIDC_TIMEOUT"),
          ),
        options.timeoutMs,
      );
      timer.unref();
      server.on("request", (req, res) => {
        const current = new URL(req.url ?? "/", redirectUri);
        const headers = {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": "default-src 'none'",
          "cache-control": "no-store",
        };
        // Only the answer to this sign-in (its state) ends the wait; anything else is turned away.
        if (current.pathname !== "/callback" || current.searchParams.get("state") !== state) {
          res.writeHead(404, headers).end("<!doctype html><p>Not a sign-in this keyhole started.</p>");
          return;
        }
        res.writeHead(200, headers).end(DONE_PAGE);
        clearTimeout(timer);
        resolve(current);
      });
    });
    try {
      return resultOf(
        await client.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: verifier,
          expectedState: state,
          expectedNonce: nonce,
          idTokenExpected: true,
        }),
      );
    } catch (err) {
      throw oidcError(`the identity provider's answer could not be accepted: ${(err as Error).message}`, err);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** The device authorization grant: a code the person enters on another device. */
export async function loginWithDevice(options: OidcLoginOptions): Promise<OidcLoginResult> {
  const config = await discover(options.issuer, options.clientId);
  let started: Awaited<ReturnType<typeof client.initiateDeviceAuthorization>>;
  try {
    started = await client.initiateDeviceAuthorization(config, { scope: SCOPE });
  } catch (err) {
    throw oidcError(`the identity provider refused a device sign-in: ${(err as Error).message}`, err);
  }
  options.tell(
    [
      `on any device, open ${started.verification_uri} and enter the code ${started.user_code}`,
      ...(started.verification_uri_complete ? [`  (or open ${started.verification_uri_complete})`] : []),
      "waiting for you to sign in there…",
    ].join("\n"),
  );
  try {
    return resultOf(
      await client.pollDeviceAuthorizationGrant(config, started, undefined, {
        signal: AbortSignal.timeout(Math.min(options.timeoutMs, started.expires_in * 1000)),
      }),
    );
  } catch (err) {
    if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError")
      throw new CliError("no sign-in before the code ran out", 1, "KH_OIDC_TIMEOUT", { cause: err });
    throw oidcError(`the device sign-in did not complete: ${(err as Error).message}`, err);
  }
}
