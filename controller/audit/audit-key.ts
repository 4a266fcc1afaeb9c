/**
 * The controller's audit key: one Ed25519 key that signs audit checkpoints. It is generated on first
 * start as `<dataDir>/audit-key.pem` (PKCS#8, mode 0600); its public half is written beside it as
 * `<dataDir>/audit-jwks.json`, which is what a verifier pins (`keyhole audit verify --key FILE`).
 * It is a separate key from the environments' request-signing keys: an agent never needs it, and
 * a verifier never needs a key that can sign requests.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { type PublicJwk, publicJwkOf } from "../keys.js";

export const AUDIT_KEY_FILE = "audit-key.pem";
export const AUDIT_JWKS_FILE = "audit-jwks.json";

export interface AuditKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: PublicJwk;
  readonly privateKeyPath: string;
  readonly jwksPath: string;
}

/**
 * Loads the audit key: `explicitPath` (`--audit-key`, e.g. a mounted Secret, so every replica and
 * every restart signs with one key), else the data dir's, created (with its public JWKS) on first
 * use. The public JWKS is (re)written in the data dir either way, for `keyhole audit verify` there.
 */
export async function loadOrCreateAuditKey(dataDir: string, explicitPath?: string): Promise<AuditKey> {
  const privateKeyPath = explicitPath ?? join(dataDir, AUDIT_KEY_FILE);
  const jwksPath = join(dataDir, AUDIT_JWKS_FILE);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(privateKeyPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || explicitPath !== undefined)
      throw new ConfigError(`cannot read the audit key ${privateKeyPath}`, [(err as Error).message], {
        cause: err,
      });
    const generated = generateKeyPairSync("ed25519").privateKey;
    const pem = generated.export({ type: "pkcs8", format: "pem" }) as string;
    try {
      // "wx": two processes starting at once must not each write their own key.
      await writeFile(privateKeyPath, pem, { mode: 0o600, flag: "wx" });
      await chmod(privateKeyPath, 0o600);
    } catch (writeErr) {
      if ((writeErr as NodeJS.ErrnoException).code !== "EEXIST") throw writeErr;
    }
    privateKey = createPrivateKey(await readFile(privateKeyPath));
  }
  if (privateKey.asymmetricKeyType !== "ed25519")
    throw new ConfigError(`cannot use the audit key ${privateKeyPath}`, [
      `it is ${privateKey.asymmetricKeyType}, not Ed25519`,
    ]);
  // kid "audit-<RFC 7638 thumbprint>": never mistaken for an environment's request-signing key.
  const jwk: PublicJwk = await publicJwkOf(privateKey, "audit");
  // The public half is derivable; (re)write it so it always matches the private key.
  const jwks = `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`;
  const current = await readFile(jwksPath, "utf8").catch(() => undefined);
  if (current !== jwks) await writeFile(jwksPath, jwks, { mode: 0o644 });
  return { kid: jwk.kid, privateKey, publicJwk: jwk, privateKeyPath, jwksPath };
}

/** Reads an audit private key (PKCS#8 Ed25519) without creating or writing anything. */
export async function readAuditPrivateKey(path: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(path));
  } catch (err) {
    throw new ConfigError(`cannot read the audit key ${path}`, [(err as Error).message], { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new ConfigError(`cannot use the audit key ${path}`, [
      `it is ${key.asymmetricKeyType}, not Ed25519`,
    ]);
  return key;
}

/** The RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 key, public or private. */
export function thumbprintOf(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const { x } = publicKey.export({ format: "jwk" }) as { x: string };
  return createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
}

/** A verifier's pinned public keys, by kid, from a JWKS file (`{"keys":[…]}`) or one JWK. */
export async function readAuditPublicKeys(path: string): Promise<Map<string, KeyObject>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read the audit public key ${path}`, [(err as Error).message], {
      cause: err,
    });
  }
  return publicKeysOf(parsed, path);
}

/** Public keys by kid from a JWKS or JWK value; `where` names it in errors. */
export function publicKeysOf(value: unknown, where: string): Map<string, KeyObject> {
  const list = (value as { keys?: unknown })?.keys ?? [value];
  const keys = new Map<string, KeyObject>();
  const problems: string[] = [];
  for (const [i, jwk] of (Array.isArray(list) ? list : []).entries()) {
    const { kty, crv, x, kid } = (jwk ?? {}) as Record<string, unknown>;
    if (kty !== "OKP" || crv !== "Ed25519" || typeof x !== "string" || typeof kid !== "string") {
      problems.push(`key ${i}: not an Ed25519 public JWK with a kid`);
      continue;
    }
    const key = createPublicKey({ key: { kty, crv, x }, format: "jwk" });
    keys.set(kid, key);
    // Checkpoints name the key `audit-<RFC 7638 thumbprint>`: a JWKS written by `keyhole keys
    // generate` for the same key (another kid) pins it as well.
    const thumbprint = createHash("sha256")
      .update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`)
      .digest("base64url");
    keys.set(`audit-${thumbprint}`, key);
  }
  if (keys.size === 0) problems.push("no Ed25519 public key with a kid");
  if (problems.length > 0) throw new ConfigError(`cannot use the audit public key ${where}`, problems);
  return keys;
}
