/**
 * The agent's own Ed25519 key (issue 21): it signs every answer (answer-signer.ts) and proves the
 * agent holds it when it enrolls, so the controller can pin it. Read from `--identity-key-file`, or
 * generated on first start into the state directory (`identity-key.pem`, mode 0600) and read from
 * there on every later start, so a restarted pod keeps its identity as long as its state dir lives.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makePrivateDir } from "../common/private-dir.js";
import type { PublicJwk } from "../protocol/answer.js";

export interface AgentIdentity {
  readonly privateKey: KeyObject;
  /** The public key as a JWK (`x` is what an inventory's `publicKey` pins). */
  readonly jwk: PublicJwk;
  /** Where it came from: a file path, or "ephemeral". */
  readonly source: string;
}

/** The file a generated key is kept in, under the state dir. */
export const IDENTITY_KEY_FILE = "identity-key.pem";

function fromPrivateKey(privateKey: KeyObject, source: string): AgentIdentity {
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`${source}: not an Ed25519 private key`);
  const { x } = createPublicKey(privateKey).export({ format: "jwk" }) as { x: string };
  return Object.freeze({ privateKey, jwk: Object.freeze({ kty: "OKP", crv: "Ed25519", x }), source });
}

/** A fresh key held in memory only (tests, `buildApp` without one): its answers verify, but nothing can pin it. */
export function ephemeralIdentity(): AgentIdentity {
  return fromPrivateKey(generateKeyPairSync("ed25519").privateKey, "ephemeral");
}

/** Reads a PKCS#8 PEM Ed25519 private key; refuses one that others than its owner can read. */
export function readIdentityKey(file: string): AgentIdentity {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`--identity-key-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`, {
      cause: err,
    });
  }
  // Like ssh with a private key: a key the group or others can read is not this agent's alone.
  if (process.platform !== "win32" && (statSync(file).mode & 0o077) !== 0)
    throw new Error(`${file}: the agent's identity key must be readable by its owner only (chmod 600)`);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${file}: not a PEM private key`, { cause: err });
  }
  return fromPrivateKey(key, file);
}

/**
 * The identity as the agent starts with it: `loadIdentity`, except that a state dir that cannot hold
 * a key (read-only, on procfs, not mounted) gives an ephemeral key and `warn` says why, so the agent
 * still serves (like the replay log: docs/agent.md). A `--identity-key-file` that cannot be read
 * stops start-up.
 */
export function startIdentity(
  file: string | undefined,
  stateDir: string,
  warn: (err: unknown, message: string) => void,
): AgentIdentity {
  if (file) return readIdentityKey(file);
  try {
    return loadIdentity(undefined, stateDir);
  } catch (err) {
    warn(
      err,
      "cannot keep the identity key in the state dir: answers are signed with a key that changes at every start, so a controller that pinned this agent's key refuses its next enrollment (docs/fleet.md#agent-keys)",
    );
    return ephemeralIdentity();
  }
}

/**
 * The identity from `file` when given, else the one in `stateDir` (generated there, 0600, on the
 * first start). Two agents starting at once on one state dir end up with the same key: the file is
 * created exclusively and the loser reads the winner's.
 */
export function loadIdentity(file: string | undefined, stateDir: string): AgentIdentity {
  if (file) return readIdentityKey(file);
  const path = join(stateDir, IDENTITY_KEY_FILE);
  try {
    return readIdentityKey(path);
  } catch (err) {
    if ((err as { cause?: NodeJS.ErrnoException }).cause?.code !== "ENOENT") throw err;
  }
  // Not Node's recursive mkdir: it loops forever on procfs (common/private-dir.ts).
  makePrivateDir(stateDir);
  const { privateKey } = generateKeyPairSync("ed25519");
  try {
    writeFileSync(path, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600); // whatever the umask
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return readIdentityKey(path);
  }
  return fromPrivateKey(privateKey, path);
}
