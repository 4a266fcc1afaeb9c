/**
 * A small real OIDC issuer on loopback: a discovery document and a JWKS over HTTP, and ID tokens
 * signed with jose. Keys can be rotated (a new key published, the old one dropped), and every JWKS
 * fetch is counted, so tests can see the controller's cache at work.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

interface IssuerKey {
  readonly kid: string;
  readonly privateKey: PrivateKey;
  readonly jwk: JWK;
}

export interface TestIssuer {
  /** The issuer URL (`iss`), e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number;
  /** The kid ID tokens are signed with now. */
  readonly currentKid: string;
  /**
   * Signs an ID token. Defaults: sub, email, groups, aud `keyhole`, iat now, exp in 10 minutes, signed
   * with the current key. `claims` may override any of them (undefined removes one).
   */
  idToken(
    claims?: Record<string, unknown>,
    options?: { key?: "current" | "unpublished"; kid?: string; typ?: string },
  ): Promise<string>;
  /** Publishes a new key (alongside the old one unless `dropOld`) and signs with it from now on. */
  rotate(options?: { dropOld?: boolean }): Promise<void>;
  close(): Promise<void>;
}

async function newKey(n: number): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = `issuer-key-${n}-${Math.random().toString(36).slice(2, 8)}`;
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

export async function startTestIssuer(options: { audience?: string } = {}): Promise<TestIssuer> {
  let keys: IssuerKey[] = [await newKey(1)];
  let current = keys[0]!;
  let fetches = 0;
  let count = 1;
  const unpublished = await newKey(0);
  let url = "";
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === "/.well-known/openid-configuration") {
      send(200, {
        issuer: url,
        jwks_uri: `${url}/jwks`,
        authorization_endpoint: `${url}/authorize`,
        id_token_signing_alg_values_supported: ["RS256"],
      });
    } else if (req.url === "/jwks") {
      fetches++;
      send(200, { keys: keys.map((k) => k.jwk) });
    } else send(404, { error: "not_found" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    get url() {
      return url;
    },
    get jwksFetches() {
      return fetches;
    },
    get currentKid() {
      return current.kid;
    },
    async idToken(claims = {}, signing = {}) {
      const now = Math.floor(Date.now() / 1000);
      const all: Record<string, unknown> = {
        iss: url,
        sub: "00u1alice",
        aud: options.audience ?? "keyhole",
        iat: now,
        exp: now + 600,
        email: "alice@example.com",
        email_verified: true,
        groups: ["sre", "oncall"],
        ...claims,
      };
      for (const [k, v] of Object.entries(all)) if (v === undefined) delete all[k];
      const key = signing.key === "unpublished" ? unpublished : current;
      return new SignJWT(all)
        .setProtectedHeader({ alg: "RS256", typ: signing.typ ?? "JWT", kid: signing.kid ?? key.kid })
        .sign(key.privateKey);
    },
    async rotate(rotation = {}) {
      const next = await newKey(++count);
      keys = rotation.dropOld ? [next] : [...keys, next];
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
