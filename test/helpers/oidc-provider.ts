/**
 * A real OpenID provider on loopback for the console's and the CLI's login tests: `oidc-provider`
 * (the certified Node implementation) with its development login form, one public client that must
 * use PKCE (or the device flow: `keyhole login --device`), and accounts whose id is their email; `groups` says which groups each one carries.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { interactionPolicy } from "oidc-provider";

export interface TestProvider {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the provider on 127.0.0.1 with one client allowed to redirect to `redirectUris`. */
export async function startTestProvider(options: {
  readonly clientId: string;
  readonly redirectUris: readonly string[];
  /** Email (the login name) → groups. Anyone else signs in with no groups. */
  readonly groups: Readonly<Record<string, readonly string[]>>;
}): Promise<TestProvider> {
  const server: Server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A first-party native client: no consent screen, not even the one oidc-provider asks native
  // clients for by default (the grant below stands for it).
  const policy = interactionPolicy.base();
  policy.get("consent")?.checks.remove("native_client_prompt");
  const provider = new Provider(url, {
    interactions: { policy },
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: "none",
        // A native client (RFC 8252): `keyhole login` redirects to 127.0.0.1 on a port of its own
        // choosing (the provider ignores the port of a loopback redirect), or uses the device flow.
        application_type: "native",
        redirect_uris: [...options.redirectUris, "http://127.0.0.1/callback"],
        grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
        response_types: ["code"],
      },
    ],
    pkce: { required: () => true },
    scopes: ["openid", "email", "profile", "groups"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], groups: ["groups"], profile: ["name"] },
    // The claims of the scopes asked for go into the ID token, which is what keyhole reads.
    conformIdTokenClaims: false,
    cookies: { keys: ["keyhole-test-provider-cookie-key"] },
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: id,
            email_verified: true,
            groups: [...(options.groups[id.toLowerCase()] ?? [])],
          };
        },
      };
    },
    // A first-party client: no consent screen.
    async loadExistingGrant(ctx) {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId });
      grant.addOIDCScope("openid email profile groups");
      await grant.save();
      return grant;
    },
  });
  server.on("request", provider.callback());
  return {
    url,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
