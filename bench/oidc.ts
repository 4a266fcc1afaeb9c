/**
 * OIDC authentication of one ID token (jose jwtVerify against the issuer's JWKS, cached by
 * createRemoteJWKSet, plus the claim mapping) vs a bare RS256 `crypto.verify` of the same bytes
 * (goal ≤ 2×: the cache must keep the network out of the per-request path). A real issuer on
 * loopback serves the discovery document and JWKS; every JWKS fetch is counted.
 */
import { createPublicKey, verify } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createOidcAuthenticator } from "../controller/identity/oidc.js";
import { type BenchResult, median } from "./lib.js";

export async function benchOidc(n = 2000, rounds = 5): Promise<BenchResult> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  let jwksFetches = 0;
  let url = "";
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    if (req.url === "/jwks") {
      jwksFetches++;
      res.end(JSON.stringify({ keys: [jwk] }));
    } else res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks` }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const now = Math.floor(Date.now() / 1000);
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) {
      tokens.push(
        await new SignJWT({
          email: `user${i}@example.com`,
          email_verified: true,
          groups: ["sre", "oncall"],
          sub: `u${i}`,
        })
          .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: "k1" })
          .setIssuer(url)
          .setAudience("keyhole")
          .setIssuedAt(now)
          .setExpirationTime(now + 3600)
          .sign(privateKey),
      );
    }
    const silent = { info() {}, warn() {}, debug() {}, error() {} } as never;
    const authenticator = createOidcAuthenticator({
      issuer: url,
      audience: "keyhole",
      groupsClaim: "groups",
      log: silent,
    });
    await authenticator.ready();
    const nodeKey = createPublicKey({ key: jwk as never, format: "jwk" });
    const bare = tokens.map((t) => {
      const dot = t.lastIndexOf(".");
      return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), "base64url") };
    });
    const oidcTimes: number[] = [];
    const bareTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let t = performance.now();
      for (const { data, sig } of bare)
        if (!verify("RSA-SHA256", data, nodeKey, sig)) throw new Error("bare verify failed");
      bareTimes.push((performance.now() - t) / n);
      t = performance.now();
      for (const token of tokens) if (!(await authenticator.authenticate(token))) throw new Error("refused");
      oidcTimes.push((performance.now() - t) / n);
    }
    const oidc = median(oidcTimes);
    const reference = median(bareTimes);
    const ratio = oidc / reference;
    return {
      name: "OIDC ID token authentication vs bare RS256 crypto.verify",
      value: `${(oidc * 1000).toFixed(1)} µs per token (jwtVerify with the cached JWKS, issuer/audience/time checks, claim mapping)`,
      reference: `${(reference * 1000).toFixed(1)} µs per crypto.verify of the same bytes`,
      ratio,
      goal: "≤ 2×",
      met: ratio <= 2,
      extra: `JWKS fetched ${jwksFetches} time(s) for ${n * rounds} authentications`,
    };
  } finally {
    server.close();
  }
}
