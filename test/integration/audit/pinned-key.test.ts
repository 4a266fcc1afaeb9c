/**
 * Finding 4 of the outside review (issue 16): a forged audit export passed `keyhole audit verify`
 * (exit 0, "intact") and the evidence report called it intact. The review deleted records from a real
 * export, re-hashed the rest, re-signed every checkpoint with a key of its own and put that key in the
 * export's header: without `--key`, verify trusted the key the file carried. Now nothing says intact
 * or exits 0 unless the chain verified against a key the verifier pinned (`--key FILE` or
 * `--key-fingerprint`); otherwise exit 3 and "not verified against a pinned key" first. Real
 * controller, real SQLite file, the real `keyhole` executable.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKeyhole } from "../../../cli/demo/processes.js";
import { canonicalJson } from "../../../controller/audit/canonical-json.js";
import { type AuditRecord, auditRecordHash, GENESIS_HASH } from "../../../controller/audit/chain.js";
import { type AuditCheckpoint, signCheckpoint } from "../../../controller/audit/checkpoint.js";
import { loadControllerConfig } from "../../../controller/config.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { publicJwkOf } from "../../../controller/keys.js";
import { createController } from "../../../controller/runtime.js";
import { TEST_POLICY } from "../controller/helpers.js";

let dir: string;
let dataDir: string;
/** Where an auditor runs: no controller data dir, only what they were given. */
let auditorDir: string;
let genuine: string;
let forged: string;
let pinnedKey: string;
let fingerprint: string;

const keyhole = (args: string[]) => runKeyhole(args, { PATH: process.env.PATH }, 30_000);

/**
 * The review's forgery: drop records `drop`, renumber and re-hash everything after, and re-sign the
 * header's checkpoint and every stored one with a fresh key, which the header then names.
 */
async function forge(from: string, to: string, drop: ReadonlySet<number>): Promise<void> {
  const lines = (await readFile(from, "utf8"))
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  const privateKey = generateKeyPairSync("ed25519").privateKey;
  const jwk = await publicJwkOf(privateKey, "audit");
  const key = { kid: jwk.kid, privateKey };
  const records: AuditRecord[] = [];
  const out: string[] = [];
  let prevHash = GENESIS_HASH;
  for (const line of lines) {
    if ("export" in line || "checkpoint" in line) continue;
    if (drop.has(line.seq)) continue;
    const { hash: _old, ...rest } = line as AuditRecord;
    const record = { ...rest, seq: records.length + 1, prevHash };
    const hashed = { ...record, hash: auditRecordHash(record) } as AuditRecord;
    records.push(hashed);
    prevHash = hashed.hash;
  }
  const at = Date.now();
  const head = { seq: records.length, hash: prevHash };
  const checkpoint: AuditCheckpoint = signCheckpoint(key, head, at);
  out.push(
    JSON.stringify({
      export: {
        format: "keyhole-audit/1",
        exportedAt: new Date(at).toISOString(),
        head,
        checkpoint,
        publicKeys: [jwk],
      },
    }),
  );
  for (const record of records) {
    out.push(canonicalJson(record));
    if (record.seq % 5 === 0)
      out.push(
        JSON.stringify({ checkpoint: signCheckpoint(key, { seq: record.seq, hash: record.hash }, at) }),
      );
  }
  await writeFile(to, `${out.join("\n")}\n`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-pinned-"));
  dataDir = join(dir, "data");
  auditorDir = join(dir, "auditor");
  await mkdir(auditorDir);
  await writeFile(join(dir, "policy.yaml"), TEST_POLICY);
  const config = loadControllerConfig(
    { dataDir, policy: join(dir, "policy.yaml"), listen: "127.0.0.1:0" },
    {},
  );
  const controller = await createController(config, { auditCheckpoints: { everyRecords: 4, pollMs: 20 } });
  await issueToken({ dataDir, subject: "user:alice@example.com", groups: ["sre"] });
  for (let i = 0; i < 12; i++) {
    await controller.store.appendAudit(
      [{ actor: "user:mallory@example.com", event: "request.refused", details: { n: i }, reason: `r${i}` }],
      Date.now(),
    );
    await controller.checkpointer.tick();
  }
  await controller.close();
  genuine = join(auditorDir, "audit.jsonl");
  const exported = await keyhole(["audit", "export", "--out", genuine, "--data-dir", dataDir]);
  expect(exported.code, exported.stderr).toBe(0);
  // What the auditor was given out of band, at install time: the key file and its fingerprint.
  const key = await keyhole(["audit", "key", "--data-dir", dataDir]);
  pinnedKey = join(auditorDir, "pinned-audit-key.json");
  await writeFile(pinnedKey, key.stdout);
  // The fingerprint is the key's kid: audit-<RFC 7638 thumbprint>.
  fingerprint = JSON.parse(key.stdout).keys[0].kid;
  expect(fingerprint).toMatch(/^audit-[A-Za-z0-9_-]{43}$/);
  forged = join(auditorDir, "forged.jsonl");
  // Mallory's refusals 3 to 6 never happened, as far as the forged file says.
  await forge(genuine, forged, new Set([5, 6, 7, 8]));
}, 60_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

describe("finding 4: audit verify against a pinned key", () => {
  it("finding 4: a forged export re-signed with its own key does not pass audit verify", async () => {
    const noKey = await keyhole(["audit", "verify", "--file", forged, "--data-dir", auditorDir]);
    expect(noKey.code, noKey.stdout + noKey.stderr).toBe(3);
    expect(noKey.stdout).toMatch(/^NOT VERIFIED against a pinned key/);
    expect(noKey.stdout).not.toMatch(/intact/);
    expect(noKey.stderr).toContain("not verified against a pinned key");

    for (const pin of [
      ["--key", pinnedKey],
      ["--key-fingerprint", fingerprint],
    ]) {
      const pinned = await keyhole(["audit", "verify", "--file", forged, ...pin, "--data-dir", auditorDir]);
      expect({ pin, code: pinned.code }).toEqual({ pin, code: 1 });
      expect(pinned.stderr).toMatch(/audit chain broken \(bad-checkpoint\)/);
    }
    const json = await keyhole(["audit", "verify", "--file", forged, "--json", "--data-dir", auditorDir]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, status: "unpinned", pinned: false });
  });

  it("finding 4: the evidence report of a forged export says it is not verified against a pinned key, first", async () => {
    const md = await keyhole(["report", "--since", "30d", "--file", forged, "--data-dir", auditorDir]);
    expect(md.code, md.stderr).toBe(3);
    const firstLines = md.stdout.split("\n").slice(0, 4).join("\n");
    expect(firstLines).toContain("NOT VERIFIED AGAINST A PINNED KEY");
    expect(md.stdout).not.toContain("**intact**");
    const json = await keyhole([
      "report",
      "--since",
      "30d",
      "--file",
      forged,
      "--format",
      "json",
      "--data-dir",
      auditorDir,
    ]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout).chain).toMatchObject({ intact: false, status: "unpinned" });
    const pinned = await keyhole(["report", "--since", "30d", "--file", forged, "--key", pinnedKey]);
    expect(pinned.code).toBe(1);
    expect(pinned.stdout).toContain("**BROKEN**");
  });

  it("finding 4: only the genuine export, against the pinned key, is intact", async () => {
    const printed = await keyhole(["audit", "key", "--fingerprint", "--data-dir", dataDir]);
    expect(printed.stdout.trim()).toBe(fingerprint);
    for (const pin of [
      ["--key", pinnedKey],
      ["--key-fingerprint", fingerprint],
    ]) {
      const ok = await keyhole(["audit", "verify", "--file", genuine, ...pin, "--data-dir", auditorDir]);
      expect({ pin, code: ok.code, err: ok.stderr }).toEqual({ pin, code: 0, err: "" });
      expect(ok.stdout).toMatch(/^ok: \d+ records, .* intact; .*\(pinned\)/);
    }
    const report = await keyhole([
      "report",
      "--since",
      "30d",
      "--file",
      genuine,
      "--key-fingerprint",
      fingerprint,
    ]);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain("**intact**, verified against the pinned key");
    // The genuine file without a pinned key is no more evidence than the forged one.
    expect((await keyhole(["audit", "verify", "--file", genuine, "--data-dir", auditorDir])).code).toBe(3);
    // The live chain: the key lying beside the database is not pinned either.
    const live = await keyhole(["audit", "verify", "--data-dir", dataDir]);
    expect(live.code).toBe(3);
    const livePinned = await keyhole([
      "audit",
      "verify",
      "--data-dir",
      dataDir,
      "--key-fingerprint",
      fingerprint,
    ]);
    expect(livePinned.code, livePinned.stderr).toBe(0);
  });
});
