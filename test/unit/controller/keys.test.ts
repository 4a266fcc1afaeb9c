import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, calculateJwkThumbprint, compactVerify, createLocalJWKSet } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../../controller/errors.js";
import { generateSigningKey, loadEnvironmentKeys, readPrivateKey } from "../../../controller/keys.js";

describe("signing keys", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhole-keys-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("generates a PKCS#8 Ed25519 key (0600) and a JWKS whose kid is the RFC 7638 thumbprint", async () => {
    const out = join(dir, "k");
    const generated = await generateSigningKey(out);
    expect(generated).toEqual({
      kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      privateKeyPath: join(out, "signing-key.pem"),
      jwksPath: join(out, "jwks.json"),
    });
    expect((await stat(generated.privateKeyPath)).mode & 0o777).toBe(0o600);
    const pem = await readFile(generated.privateKeyPath, "utf8");
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const jwks = JSON.parse(await readFile(generated.jwksPath, "utf8"));
    expect(jwks.keys).toHaveLength(1);
    const [jwk] = jwks.keys;
    expect(jwk).toEqual({
      kty: "OKP",
      crv: "Ed25519",
      x: expect.any(String),
      kid: generated.kid,
      alg: "EdDSA",
      use: "sig",
    });
    expect(await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x })).toBe(generated.kid);
    expect(JSON.stringify(jwks)).not.toContain('"d"');

    // The JWKS verifies what the private key signs.
    const key = await readPrivateKey(generated.privateKeyPath);
    const jws = await new CompactSign(new TextEncoder().encode("hi"))
      .setProtectedHeader({ alg: "EdDSA", kid: generated.kid })
      .sign(key);
    const { payload } = await compactVerify(jws, createLocalJWKSet(jwks));
    expect(new TextDecoder().decode(payload)).toBe("hi");
  });

  it("prefixes the kid with the environment, and refuses to overwrite a key", async () => {
    const out = join(dir, "prod");
    const first = await generateSigningKey(out, "production");
    expect(first.kid).toMatch(/^production-[A-Za-z0-9_-]{43}$/);
    const before = await readFile(first.privateKeyPath, "utf8");
    await expect(generateSigningKey(out, "production")).rejects.toThrow(/refusing to overwrite/);
    expect(await readFile(first.privateKeyPath, "utf8")).toBe(before);
    await expect(generateSigningKey(join(dir, "x"), "Bad Env")).rejects.toBeInstanceOf(ConfigError);
  });

  it("gives each environment its own key on first start, and the same keys on the next", async () => {
    const first = await loadEnvironmentKeys({
      dataDir: dir,
      environments: ["production", "staging"],
      explicit: [],
    });
    const prod = first.get("production")!;
    const staging = first.get("staging")!;
    expect(prod.kid).not.toBe(staging.kid);
    expect(prod.jwksPath).toBe(join(dir, "keys", "production", "jwks.json"));
    const pinned = JSON.parse(await readFile(prod.jwksPath!, "utf8"));
    expect(pinned).toEqual(prod.jwks);

    const second = await loadEnvironmentKeys({
      dataDir: dir,
      environments: ["production", "staging"],
      explicit: [],
    });
    expect(second.get("production")!.kid).toBe(prod.kid);
    expect(second.get("staging")!.kid).toBe(staging.kid);
  });

  it("restores a lost jwks.json but refuses one that does not match the key", async () => {
    const keys = await loadEnvironmentKeys({ dataDir: dir, environments: ["staging"], explicit: [] });
    const jwksPath = keys.get("staging")!.jwksPath!;
    await rm(jwksPath);
    const restored = await loadEnvironmentKeys({ dataDir: dir, environments: ["staging"], explicit: [] });
    expect(restored.get("staging")!.kid).toBe(keys.get("staging")!.kid);

    const other = await generateSigningKey(join(dir, "other"));
    await writeFile(jwksPath, await readFile(other.jwksPath));
    await expect(
      loadEnvironmentKeys({ dataDir: dir, environments: ["staging"], explicit: [] }),
    ).rejects.toThrow(/does not hold the public key/);
  });

  it("uses an explicit key, taking the kid from the jwks.json beside it", async () => {
    const generated = await generateSigningKey(join(dir, "ext"));
    const keys = await loadEnvironmentKeys({
      dataDir: join(dir, "data"),
      environments: ["production", "staging"],
      explicit: [{ environment: "production", file: generated.privateKeyPath }],
    });
    expect(keys.get("production")).toMatchObject({ kid: generated.kid, jwksPath: generated.jwksPath });
    // Alone, its JWKS is derived from the private key.
    const lone = join(dir, "lone");
    await mkdir(lone);
    await writeFile(join(lone, "key.pem"), await readFile(generated.privateKeyPath));
    const derived = await loadEnvironmentKeys({
      dataDir: join(dir, "data"),
      environments: ["production"],
      explicit: [{ environment: "production", file: join(lone, "key.pem") }],
    });
    expect(derived.get("production")!.kid).toBe(`production-${generated.kid}`);
    expect(derived.get("production")!.jwksPath).toBeUndefined();
  });

  it("refuses keys for environments the policy does not know, and keys that are not Ed25519", async () => {
    await expect(
      loadEnvironmentKeys({
        dataDir: dir,
        environments: ["production"],
        explicit: [{ environment: "qa", file: "/x.pem" }],
      }),
    ).rejects.toThrow(/no environment "qa" in the policy/);
    const { generateKeyPairSync } = await import("node:crypto");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    });
    await writeFile(join(dir, "rsa.pem"), rsa);
    await expect(readPrivateKey(join(dir, "rsa.pem"))).rejects.toThrow(/not Ed25519/);
    await expect(readPrivateKey(join(dir, "missing.pem"))).rejects.toThrow(/cannot read signing key/);
  });
});
