/** The console's login with an OpenID provider (authorization code + PKCE); see createConsoleOidc. */
import type { Principal } from "../identity/principal.js";

export interface ConsoleOidc {
  /** Where to send the browser, and the state cookie value that binds the callback to it. */
  begin(next: string): Promise<{ url: string; state: string }>;
  /** Exchanges the callback's code (checked against the state cookie) for the signed-in principal. */
  complete(
    callbackUrl: string,
    stateCookie: string | undefined,
  ): Promise<{ principal: Principal; next: string } | { refused: string }>;
}
