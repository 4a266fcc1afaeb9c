/**
 * `keyhole audit export|verify|key` without a running controller: they open the store named by the
 * data dir (or `--database`), like `keyhole token`. Verifying the live chain reads the database
 * itself rather than asking the controller's API, so what is proven is what is stored, and it works
 * while the controller is down. The data dir also holds the audit key: export signs a checkpoint of
 * the head with it, and verify pins its public half unless `--key` names another copy.
 */
import type { KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type ControllerOptions, loadControllerConfig } from "../config.js";
import { parseDurationSeconds } from "../duration.js";
import { ConfigError } from "../errors.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/types.js";
import { AUDIT_JWKS_FILE, loadOrCreateAuditKey, publicKeysOf, readAuditPublicKeys } from "./audit-key.js";
import { GENESIS_HASH } from "./chain.js";
import type { AuditCheckpoint } from "./checkpoint.js";
import { signCheckpoint } from "./checkpoint.js";
import { readExport, writeExport } from "./export-file.js";
import { buildReport, type EvidenceReport } from "./report.js";
import { ChainVerifier, type VerifyResult } from "./verify-chain.js";

export interface AuditLocation {
  dataDir?: string;
  database?: string;
  /** The audit key file, when not the data dir's (`--audit-key`). */
  auditKey?: string;
  /** Reads only KEYHOLE_DATA_DIR, KEYHOLE_DATABASE and KEYHOLE_AUDIT_KEY from it. */
  env?: Readonly<Record<string, string | undefined>>;
}

function locate(location: AuditLocation) {
  const env = location.env ?? {};
  const options: ControllerOptions = {
    dataDir: location.dataDir ?? (env.KEYHOLE_DATA_DIR || undefined),
    database: location.database ?? (env.KEYHOLE_DATABASE || undefined),
    auditKey: location.auditKey ?? (env.KEYHOLE_AUDIT_KEY || undefined),
  };
  return loadControllerConfig(options, {});
}

async function withStore<T>(
  location: AuditLocation,
  fn: (store: Store, dataDir: string, auditKeyPath: string | undefined) => Promise<T>,
): Promise<T> {
  const config = locate(location);
  if (config.database.kind === "sqlite" && !existsSync(config.database.path))
    throw new ConfigError("no audit log here", [
      `${config.database.path} does not exist; is --data-dir right?`,
    ]);
  const store = await openStore(config.database);
  try {
    return await fn(store, config.dataDir, config.auditKeyPath);
  } finally {
    await store.close();
  }
}

export interface ExportSummary {
  readonly out: string;
  readonly records: number;
  readonly checkpoints: number;
  readonly head: { readonly seq: number; readonly hash: string };
  readonly kid: string;
}

/** Signs a checkpoint of the current head and writes the chain up to it to `out`. */
export async function exportAudit(
  options: AuditLocation & { out: string; now?: number },
): Promise<ExportSummary> {
  return withStore(options, async (store, dataDir, auditKeyPath) => {
    const key = await loadOrCreateAuditKey(dataDir, auditKeyPath);
    const at = options.now ?? Date.now();
    const head = (await store.auditHead()) ?? { seq: 0, hash: GENESIS_HASH };
    const checkpoint: AuditCheckpoint = signCheckpoint(key, head, at);
    await store.appendCheckpoint(checkpoint);
    const stored = (await store.listCheckpoints({ afterSeq: head.seq - 1 })).find((c) => c.seq === head.seq);
    const written = await writeExport(store, options.out, {
      checkpoint: stored ?? checkpoint,
      publicKeys: [key.publicJwk],
      exportedAt: at,
    });
    return { out: options.out, ...written, head, kid: key.kid };
  });
}

export interface VerifyReport extends VerifyResult {
  /** What was verified: a file path or the database. */
  readonly source: string;
  /** Where the public key came from; `export file (not pinned)` proves less. */
  readonly keySource: string;
}

/** Loads the pinned keys: `--key`, else the data dir's public key file, else undefined. */
async function pinnedKeys(
  keyFile: string | undefined,
  location: AuditLocation,
): Promise<{ keys: Map<string, KeyObject>; source: string } | undefined> {
  if (keyFile) return { keys: await readAuditPublicKeys(keyFile), source: keyFile };
  const dataDir = locate(location).dataDir;
  const beside = join(dataDir, AUDIT_JWKS_FILE);
  if (existsSync(beside)) return { keys: await readAuditPublicKeys(beside), source: beside };
  return undefined;
}

/** Verifies an exported file. */
export async function verifyAuditFile(
  options: AuditLocation & { file: string; key?: string },
): Promise<VerifyReport> {
  if (!existsSync(options.file)) throw new ConfigError("cannot verify", [`${options.file} does not exist`]);
  // Pass 1: the header and the checkpoints (few lines; record lines are skipped unparsed).
  let header: { checkpoint: AuditCheckpoint; publicKeys: unknown; line: number } | undefined;
  const checkpoints: { checkpoint: AuditCheckpoint; where: string }[] = [];
  for await (const item of readExport(options.file, true)) {
    if (item.kind === "header" && !header)
      header = { checkpoint: item.header.checkpoint, publicKeys: item.header.publicKeys, line: item.line };
    if (item.kind === "header")
      checkpoints.push({ checkpoint: item.header.checkpoint, where: `line ${item.line}` });
    if (item.kind === "checkpoint")
      checkpoints.push({ checkpoint: item.checkpoint, where: `line ${item.line}` });
  }
  let pinned = await pinnedKeys(options.key, options);
  if (!pinned && header)
    pinned = {
      keys: publicKeysOf({ keys: header.publicKeys }, options.file),
      source: "export file (not pinned)",
    };
  if (!pinned) throw new ConfigError("cannot verify", ["no audit public key: pass --key FILE"]);
  const verifier = new ChainVerifier(checkpoints, pinned.keys);
  if (!header) verifier.malformed("line 1", "the export header (with its signed head) is missing");
  // Pass 2: the records, in file order.
  for await (const item of readExport(options.file)) {
    if (verifier.failed) break;
    if (item.kind === "record") verifier.push(item.record, `line ${item.line}`);
    else if (item.kind === "bad") verifier.malformed(`line ${item.line}`, item.why);
  }
  return { source: options.file, keySource: pinned.source, ...verifier.finish({ requireSignedTail: true }) };
}

/** Verifies the live chain in the database. */
export async function verifyAuditStore(options: AuditLocation & { key?: string }): Promise<VerifyReport> {
  const pinned = await pinnedKeys(options.key, options);
  return withStore(options, async (store) => {
    const keys = pinned?.keys;
    if (!keys)
      throw new ConfigError("cannot verify", ["no audit public key in the data dir: pass --key FILE"]);
    return { source: "database", keySource: pinned.source, ...(await verifyStore(store, keys)) };
  });
}

/** Verifies a store's chain against its checkpoints, paging through the records. */
export async function verifyStore(store: Store, keys: ReadonlyMap<string, KeyObject>): Promise<VerifyResult> {
  const checkpoints = (await store.listCheckpoints()).map((checkpoint) => ({
    checkpoint,
    where: `checkpoint ${checkpoint.seq}`,
  }));
  const verifier = new ChainVerifier(checkpoints, keys);
  let after = 0;
  for (;;) {
    const page = await store.listAudit({ afterSeq: after, limit: 5000 });
    for (const record of page) verifier.push(record, `seq ${record.seq}`);
    if (page.length < 5000 || verifier.failed) break;
    after = page.at(-1)!.seq;
  }
  return verifier.finish();
}

/** The audit key's public half, for verifiers to pin (created with the key if missing). */
export async function auditPublicKey(options: AuditLocation): Promise<{ keys: unknown[]; path: string }> {
  const config = locate(options);
  const key = await loadOrCreateAuditKey(config.dataDir, config.auditKeyPath);
  return { keys: [key.publicJwk], path: key.jwksPath };
}

/** `--since`: a duration back from now (`30d`, `12h`) or an ISO 8601 date. */
export function parseSince(text: string, now: number): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw new ConfigError("invalid --since", [`"${text}" is not a date`]);
    return new Date(at);
  }
  try {
    return new Date(now - parseDurationSeconds(text, 10 * 365 * 86_400) * 1000);
  } catch (err) {
    throw new ConfigError("invalid --since", [`${(err as Error).message}, or an ISO date (2026-01-31)`], {
      cause: err,
    });
  }
}

/**
 * The evidence report over `[since, now)`, from the live chain or an export, with the chain's own
 * verification in it: a report over a broken chain says so at the top.
 */
export async function auditReport(
  options: AuditLocation & { since: string; file?: string; key?: string; now?: number },
): Promise<EvidenceReport> {
  const now = options.now ?? Date.now();
  const window = { since: parseSince(options.since, now), until: new Date(now + 1) };
  if (options.file) {
    const file = options.file;
    const chain = await verifyAuditFile({ ...options, file });
    async function* records() {
      for await (const item of readExport(file)) if (item.kind === "record") yield item.record;
    }
    return buildReport(records(), { ...window, chain });
  }
  const pinned = await pinnedKeys(options.key, options);
  if (!pinned)
    throw new ConfigError("cannot report", ["no audit public key in the data dir: pass --key FILE"]);
  return withStore(options, async (store) => {
    const chain = await verifyStore(store, pinned.keys);
    async function* records() {
      let after = 0;
      for (;;) {
        const page = await store.listAudit({ afterSeq: after, limit: 5000 });
        yield* page;
        if (page.length < 5000) return;
        after = page.at(-1)!.seq;
      }
    }
    return buildReport(records(), { ...window, chain });
  });
}
