/**
 * The audit key: generated in the data dir by default; `--audit-key FILE` (a mounted Secret) makes
 * every replica and every restart sign with one key, so verifiers pin one public key.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditPublicKey, exportAudit, verifyAuditFile } from "../../../controller/audit/cli.js";
import { loadControllerConfig } from "../../../controller/config.js";
import { ConfigError } from "../../../controller/errors.js";
import { generateSigningKey } from "../../../controller/keys.js";
import { createController } from "../../../controller/runtime.js";

let dir: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-audit-key-"));
  keyFile = (await generateSigningKey(join(dir, "secret"))).privateKeyPath;
  await writeFile(join(dir, "inventory.yaml"), "[]\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runOnce(dataDir: string, auditKey?: string) {
  const config = loadControllerConfig(
    { dataDir, inventory: join(dir, "inventory.yaml"), ...(auditKey ? { auditKey } : {}) },
    {},
  );
  const controller = await createController(config);
  await controller.close(); // signs the tail
  return controller.store;
}

describe("the audit key", () => {
  it("is one key across data dirs when --audit-key names it, and verifies an export pinned to it", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    await runOnce(a, keyFile);
    await runOnce(b, keyFile);
    const fromA = await auditPublicKey({ dataDir: a, auditKey: keyFile });
    const fromB = await auditPublicKey({ dataDir: b, env: { KEYHOLE_AUDIT_KEY: keyFile } });
    expect(fromA.keys).toEqual(fromB.keys);
    const pinned = join(dir, "pinned.json");
    await writeFile(pinned, JSON.stringify({ keys: fromA.keys }));
    const out = join(dir, "b.jsonl");
    await exportAudit({ dataDir: b, auditKey: keyFile, out });
    expect(await verifyAuditFile({ file: out, key: pinned })).toMatchObject({ ok: true, unsignedTail: 0 });
    // The checkpoints name the shared key's kid.
    const kid = (fromA.keys[0] as { kid: string }).kid;
    expect(kid).toMatch(/^audit-/);
    expect(await readFile(out, "utf8")).toContain(`"kid":"${kid}"`);
    // The jwks.json `keyhole keys generate` wrote beside the key (another kid) pins it too.
    expect(await verifyAuditFile({ file: out, key: join(dir, "secret", "jwks.json") })).toMatchObject({
      ok: true,
    });
  });

  it("without --audit-key, each data dir has its own key, and a pinned other key refuses its checkpoints", async () => {
    const c = join(dir, "c");
    await runOnce(c);
    const own = await auditPublicKey({ dataDir: c });
    const shared = await auditPublicKey({ dataDir: join(dir, "a"), auditKey: keyFile });
    expect(own.keys).not.toEqual(shared.keys);
    const other = join(dir, "other.json");
    await writeFile(other, JSON.stringify({ keys: shared.keys }));
    const out = join(dir, "c.jsonl");
    await exportAudit({ dataDir: c, out });
    expect((await verifyAuditFile({ file: out, key: other })).problem).toMatchObject({
      kind: "bad-checkpoint",
    });
  });

  it("refuses a missing or unusable --audit-key instead of generating one", async () => {
    await expect(runOnce(join(dir, "d"), join(dir, "missing.pem"))).rejects.toBeInstanceOf(ConfigError);
    await writeFile(join(dir, "not-a-key.pem"), "hello\n");
    await expect(runOnce(join(dir, "e"), join(dir, "not-a-key.pem"))).rejects.toBeInstanceOf(ConfigError);
  });
});
