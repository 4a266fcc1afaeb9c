/**
 * Who is calling. The seam for identity providers: controller-issued tokens and OIDC ID
 * tokens; both produce a Principal and the rest of the controller never learns which.
 */
export interface Principal {
  /** `user:<email>` or `svc:<name>`. */
  readonly subject: string;
  readonly groups: readonly string[];
  /**
   * How the caller proved it; the id is safe to log, the token never is: a controller-issued token's id,
   * or an OIDC ID token's issuer-scoped `sub`.
   */
  readonly credential: {
    readonly kind: "token" | "oidc";
    readonly id: string;
    /**
     * When the credential stops proving anything (ms since the epoch): a token's expiry, an ID token's
     * `exp`. Whatever is opened with it (a console session) ends no later (console attack F1).
     */
    readonly expiresAt?: number;
  };
}

/** Turns a bearer credential into a Principal, or undefined when it proves nothing. */
export interface Authenticator {
  authenticate(bearer: string): Promise<Principal | undefined>;
}
