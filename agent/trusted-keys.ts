/**
 * The agent's pinned verification keys: a JWKS file read at start, never fetched over the network.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import * as z from "zod";

const jwkSchema = z.looseObject({
  kty: z.literal("OKP", { error: "kty must be OKP (Ed25519)" }),
  crv: z.literal("Ed25519", { error: "crv must be Ed25519" }),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "x must be a 32-byte base64url public key"),
  kid: z.string().min(1, "every key needs a kid"),
  alg: z.literal("EdDSA").optional(),
  use: z.literal("sig").optional(),
  d: z.never({ error: "a private key must never be in the agent's trusted keys" }).optional(),
});
const jwksSchema = z.object({ keys: z.array(jwkSchema).min(1, "the JWKS holds no keys") });

/** kid → public key. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/** Parses a JWKS document into pinned Ed25519 keys; throws naming what is wrong. */
export function parseTrustedKeys(text: string, source: string): TrustedKeys {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON`, { cause: err });
  }
  const parsed = jwksSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`${source}: not a usable JWKS: ${problems.join("; ")}`);
  }
  const keys = new Map<string, KeyObject>();
  for (const jwk of parsed.data.keys) {
    if (keys.has(jwk.kid)) throw new Error(`${source}: duplicate kid ${jwk.kid}`);
    keys.set(jwk.kid, createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" }));
  }
  return keys;
}

/** Reads and parses the JWKS file named by `--trusted-keys`. */
export function loadTrustedKeys(file: string): TrustedKeys {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read trusted keys ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseTrustedKeys(text, file);
}
