/** The agent's own key (agent/identity.ts, issue 21): generated once, 0600, reused; a key others can read is refused. */
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { IDENTITY_KEY_FILE, loadIdentity, startIdentity } from "../../../agent/identity.js";

describe("the agent's identity key", () => {
  it("is generated into the state dir with mode 0600 on the first start and read on every later one", () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), "keyhole-identity-")), "state");
    const first = loadIdentity(undefined, stateDir);
    expect(statSync(join(stateDir, IDENTITY_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(first.source).toBe(join(stateDir, IDENTITY_KEY_FILE));
    expect(loadIdentity(undefined, stateDir).jwk).toEqual(first.jwk);
  });

  it("reads --identity-key-file, and refuses one the group or others can read, or no Ed25519 key", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhole-identity-"));
    const file = join(dir, "key.pem");
    const { privateKey } = generateKeyPairSync("ed25519");
    writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    expect(loadIdentity(file, join(dir, "state")).source).toBe(file);
    chmodSync(file, 0o640);
    expect(() => loadIdentity(file, join(dir, "state"))).toThrow(/owner only/);
    const rsa = join(dir, "rsa.pem");
    const { privateKey: rsaKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    writeFileSync(rsa, rsaKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    expect(() => loadIdentity(rsa, dir)).toThrow(/not an Ed25519 private key/);
    expect(() => loadIdentity(join(dir, "missing.pem"), dir)).toThrow(/cannot read/);
  });

  it("starts with an ephemeral key, saying why, when the state dir cannot hold one (procfs)", () => {
    const warnings: string[] = [];
    const identity = startIdentity(undefined, "/proc/keyhole-identity-test", (_err, message) =>
      warnings.push(message),
    );
    expect(identity.source).toBe("ephemeral");
    expect(warnings).toEqual([expect.stringMatching(/cannot keep the identity key in the state dir/)]);
  });
});
