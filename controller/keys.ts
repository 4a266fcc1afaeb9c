/**
 * Ed25519 signing keys, one per environment (SPEC principle 3: production and non-production are
 * separate paths). Agents pin the public half as a JWKS file; the controller never fetches or serves
 * keys over the network.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";
import { REQUEST_ALG } from "../protocol/request.js";
import { ConfigError } from "./errors.js";
import { environmentNameSchema } from "./policy/schema.js";

export const PRIVATE_KEY_FILE = "signing-key.pem";
export const JWKS_FILE = "jwks.json";

/** A public JWK as agents pin it. */
export type PublicJwk = JWK & {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
};
export interface Jwks {
  keys: PublicJwk[];
}

/** One environment's key as the dispatcher uses it. */
export interface SigningKey {
  readonly environment: string;
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwks: Jwks;
  /** Where the JWKS agents should pin lives, when it is on disk. */
  readonly jwksPath: string | undefined;
  readonly privateKeyPath: string;
}

/** The public JWK of a private key, with its kid: the RFC 7638 thumbprint, prefixed by the environment when given. */
export async function publicJwkOf(privateKey: KeyObject, environment?: string): Promise<PublicJwk> {
  const { kty, crv, x } = await exportJWK(createPublicKey(privateKey));
  const thumbprint = await calculateJwkThumbprint({ kty, crv, x }, "sha256");
  const kid = environment ? `${environment}-${thumbprint}` : thumbprint;
  return { kty: "OKP", crv: "Ed25519", x: x!, kid, alg: REQUEST_ALG, use: "sig" };
}

/**
 * Generates an Ed25519 key: `outDir/signing-key.pem` (PKCS#8, mode 0600) and `outDir/jwks.json` (the
 * public key agents pin). Refuses to overwrite an existing private key.
 */
export async function generateSigningKey(
  outDir: string,
  environment?: string,
): Promise<{ kid: string; privateKeyPath: string; jwksPath: string }> {
  if (environment !== undefined) {
    const check = environmentNameSchema.safeParse(environment);
    if (!check.success)
      throw new ConfigError("invalid environment", [`"${environment}": ${check.error.issues[0]?.message}`]);
  }
  const { privateKey } = await promisify(generateKeyPair)("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const privateKeyPath = join(outDir, PRIVATE_KEY_FILE);
  const jwksPath = join(outDir, JWKS_FILE);
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  try {
    // "wx": an existing key is someone's trust anchor; replacing it silently would lock agents out.
    await writeFile(privateKeyPath, pem, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new ConfigError("refusing to overwrite a signing key", [`${privateKeyPath} already exists`], {
        cause: err,
      });
    }
    throw err;
  }
  await chmod(privateKeyPath, 0o600); // the umask may have narrowed nothing, but a pre-set ACL could widen it
  const jwk = await publicJwkOf(privateKey, environment);
  await writeFile(jwksPath, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`);
  return { kid: jwk.kid, privateKeyPath, jwksPath };
}

/** Reads a PKCS#8 Ed25519 private key; anything else is a ConfigError. */
export async function readPrivateKey(path: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(path));
  } catch (err) {
    throw new ConfigError(`cannot read signing key ${path}`, [(err as Error).message], { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new ConfigError(`cannot use signing key ${path}`, [`it is ${key.asymmetricKeyType}, not Ed25519`]);
  }
  return key;
}

/** The JWK in `jwksPath` for the same public key, if that file exists. */
async function matchingJwk(jwksPath: string, x: string): Promise<PublicJwk | undefined> {
  let text: string;
  try {
    text = await readFile(jwksPath, "utf8");
  } catch {
    return undefined;
  }
  try {
    const jwks = JSON.parse(text) as Partial<Jwks>;
    return jwks.keys?.find((k) => k.x === x && typeof k.kid === "string");
  } catch (err) {
    throw new ConfigError(`cannot read ${jwksPath}`, [(err as Error).message], { cause: err });
  }
}

/**
 * The key of an explicit `--signing-key ENV=FILE`. Its JWKS is derived from the private key; the kid
 * is taken from a `jwks.json` beside the key when that file holds the same public key (so it matches
 * what `keyhole keys generate` gave the agents), else `<env>-<thumbprint>`.
 */
async function loadExplicitKey(environment: string, file: string): Promise<SigningKey> {
  const privateKey = await readPrivateKey(file);
  const derived = await publicJwkOf(privateKey, environment);
  const besideKey = join(dirname(file), JWKS_FILE);
  const existing = await matchingJwk(besideKey, derived.x);
  const jwk = existing ? { ...derived, kid: existing.kid } : derived;
  return {
    environment,
    kid: jwk.kid,
    privateKey,
    jwks: { keys: [jwk] },
    jwksPath: existing ? besideKey : undefined,
    privateKeyPath: file,
  };
}

/** The data dir's key for an environment, generated on first start. */
async function loadOrCreateDataDirKey(dataDir: string, environment: string): Promise<SigningKey> {
  const dir = join(dataDir, "keys", environment);
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const jwksPath = join(dir, JWKS_FILE);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(privateKeyPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await generateSigningKey(dir, environment);
    privateKey = await readPrivateKey(privateKeyPath);
  }
  const derived = await publicJwkOf(privateKey, environment);
  const existing = await matchingJwk(jwksPath, derived.x);
  if (!existing && existsSync(jwksPath)) {
    throw new ConfigError(`key mismatch for environment "${environment}"`, [
      `${jwksPath} does not hold the public key of ${privateKeyPath}`,
    ]);
  }
  // The public half was lost; it is derivable, so restore it.
  if (!existing) await writeFile(jwksPath, `${JSON.stringify({ keys: [derived] }, null, 2)}\n`);
  const jwk = existing ? { ...derived, kid: existing.kid } : derived;
  return { environment, kid: jwk.kid, privateKey, jwks: { keys: [jwk] }, jwksPath, privateKeyPath };
}

/**
 * One signing key per policy environment: explicit `ENV=FILE` keys first, the data dir's otherwise.
 * A key for an environment the policy does not know is an error.
 */
export async function loadEnvironmentKeys(options: {
  dataDir: string;
  environments: Iterable<string>;
  explicit: readonly { environment: string; file: string }[];
}): Promise<ReadonlyMap<string, SigningKey>> {
  const environments = [...options.environments];
  const unknown = options.explicit.filter((k) => !environments.includes(k.environment));
  if (unknown.length > 0) {
    throw new ConfigError(
      "signing keys for environments that are not in the policy",
      unknown.map(
        (k) => `--signing-key ${k.environment}=${k.file}: no environment "${k.environment}" in the policy`,
      ),
    );
  }
  const keys = new Map<string, SigningKey>();
  for (const environment of environments) {
    const explicit = options.explicit.find((k) => k.environment === environment);
    keys.set(
      environment,
      explicit
        ? await loadExplicitKey(environment, explicit.file)
        : await loadOrCreateDataDirKey(options.dataDir, environment),
    );
  }
  return keys;
}
