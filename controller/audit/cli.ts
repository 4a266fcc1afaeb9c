/**
 * `keyhole audit export|verify|key` without a running controller: they open the store named by the
 * data dir (or `--database`), like `keyhole token`. Verifying the live chain reads the database
 * itself rather than asking the controller's API, so what is proven is what is stored, and it works
 * while the controller is down. The data dir also holds the audit key: export signs a checkpoint of
 * the head with it. Verify and the report call a chain intact only against a key the verifier
 * pinned (`--key FILE`, `--key-fingerprint FP`): the key beside the database, or inside an export,
 * is whatever whoever rewrote them put there.
 */
import type { KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type ControllerOptions, loadControllerConfig } from "../config.js";
import { parseDurationSeconds } from "../duration.js";
import { ConfigError } from "../errors.js";
import { publicJwkOf } from "../keys.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/types.js";
import {
  AUDIT_JWKS_FILE,
  loadOrCreateAuditKey,
  publicKeysOf,
  readAuditPrivateKey,
  readAuditPublicKeys,
  thumbprintOf,
} from "./audit-key.js";
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
  /** Reads only KEYHOLE_DATA_DIR, KEYHOLE_DATABASE(_FILE) and KEYHOLE_AUDIT_KEY from it. */
  env?: Readonly<Record<string, string | undefined>>;
}

function locate(location: AuditLocation) {
  const env = location.env ?? {};
  const options: ControllerOptions = {
    dataDir: location.dataDir ?? (env.KEYHOLE_DATA_DIR || undefined),
    database: location.database ?? (env.KEYHOLE_DATABASE || undefined),
    // The URL may hold a password: KEYHOLE_DATABASE_FILE keeps it out of the environment.
    databaseFile: location.database ? undefined : env.KEYHOLE_DATABASE_FILE || undefined,
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

/**
 * What a verification proves. `intact` only when the chain is consistent *and* it verified against a
 * key the verifier pinned (`--key FILE` or `--key-fingerprint`) through at least one checkpoint that
 * key signed; `unpinned` when it is consistent under a key nobody pinned (the one an export names, or
 * the one lying beside the database), which proves nothing about who wrote it: whoever can rewrite a
 * chain can re-sign it with a key of their own and put that key beside it.
 */
export type VerifyStatus = "intact" | "broken" | "unpinned";

export interface VerifyReport extends Omit<VerifyResult, "ok"> {
  /** True only when `status` is `intact`. */
  readonly ok: boolean;
  readonly status: VerifyStatus;
  /** The hashes and checkpoints agree with each other under the keys used. */
  readonly consistent: boolean;
  /** The keys were pinned by the verifier: a key file or a fingerprint given on the command line. */
  readonly pinned: boolean;
  /** What was verified: a file path or the database. */
  readonly source: string;
  /** Where the public key came from, and whether it was pinned. */
  readonly keySource: string;
  /** Why it is `unpinned`, in one sentence; undefined otherwise. */
  readonly unpinnedReason: string | undefined;
}

/** What the verifier pins: a JWKS file, and/or a key fingerprint (`audit-<RFC 7638 thumbprint>`). */
export interface Pins {
  /** `--key FILE`: the audit public key(s) to pin. */
  readonly key?: string | undefined;
  /** `--key-fingerprint FP`: `audit-<thumbprint>`, `sha256:<thumbprint>` or the bare thumbprint. */
  readonly keyFingerprint?: string | undefined;
}

/** The RFC 7638 thumbprint (base64url) a fingerprint names, or a ConfigError. */
export function parseKeyFingerprint(text: string): string {
  const thumbprint = text.trim().replace(/^(audit-|sha256:)/i, "");
  if (!/^[A-Za-z0-9_-]{43}$/.test(thumbprint))
    throw new ConfigError("invalid --key-fingerprint", [
      `"${text}" is not a key fingerprint: give audit-<thumbprint> as \`keyhole audit key --fingerprint\` prints it`,
    ]);
  return thumbprint;
}

/**
 * The keys to verify with and whether they are pinned. Pinned: `--key FILE`, or keys (from that file,
 * the export's header or the data dir) whose thumbprint is the `--key-fingerprint` (none of them may
 * be: then nothing verifies, and every checkpoint is refused). Unpinned: the data dir's key file,
 * else the `fallback` (an export's embedded keys). Undefined when there is no key at all.
 */
async function keysFor(
  pins: Pins,
  location: AuditLocation,
  fallback?: { keys: Map<string, KeyObject>; source: string },
): Promise<{ keys: Map<string, KeyObject>; source: string; pinned: boolean } | undefined> {
  const thumbprint = pins.keyFingerprint === undefined ? undefined : parseKeyFingerprint(pins.keyFingerprint);
  if (pins.key) {
    const keys = await readAuditPublicKeys(pins.key);
    if (thumbprint === undefined) return { keys, source: `${pins.key} (pinned)`, pinned: true };
    return {
      keys: withThumbprint(keys, thumbprint),
      source: `${pins.key}, fingerprint audit-${thumbprint} (pinned)`,
      pinned: true,
    };
  }
  const beside = join(locate(location).dataDir, AUDIT_JWKS_FILE);
  const unpinned = existsSync(beside)
    ? { keys: await readAuditPublicKeys(beside), source: `${beside} (not pinned)` }
    : fallback;
  if (thumbprint !== undefined)
    return {
      keys: withThumbprint(unpinned?.keys ?? new Map(), thumbprint),
      source: `fingerprint audit-${thumbprint} (pinned)`,
      pinned: true,
    };
  return unpinned && { ...unpinned, pinned: false };
}

/** Only the keys whose RFC 7638 thumbprint is `thumbprint`, under every kid they were read with. */
function withThumbprint(keys: ReadonlyMap<string, KeyObject>, thumbprint: string): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  for (const [kid, key] of keys) if (thumbprintOf(key) === thumbprint) out.set(kid, key);
  return out;
}

/** Classifies a verification: broken, intact (pinned and vouched for by a checkpoint) or unpinned. */
function classify(
  result: VerifyResult,
  source: string,
  keys: { source: string; pinned: boolean },
): VerifyReport {
  const { ok: consistent, ...rest } = result;
  let unpinnedReason: string | undefined;
  if (consistent && !keys.pinned)
    unpinnedReason = `the chain is consistent under the key from ${keys.source}, which the verifier did not pin: pass --key FILE or --key-fingerprint FP (docs/audit.md)`;
  else if (consistent && result.lastCheckpoint === undefined)
    unpinnedReason = "no checkpoint signed by the pinned key covers any record yet";
  const status: VerifyStatus = !consistent ? "broken" : unpinnedReason ? "unpinned" : "intact";
  return {
    ...rest,
    ok: status === "intact",
    status,
    consistent,
    pinned: keys.pinned,
    source,
    keySource: keys.source,
    unpinnedReason,
  };
}

/** Verifies an exported file. */
export async function verifyAuditFile(
  options: AuditLocation & Pins & { file: string },
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
  // The export's own key is used only to say whether the file is consistent; it is never pinned.
  const embedded = header
    ? { keys: publicKeysOf({ keys: header.publicKeys }, options.file), source: "the export file itself" }
    : undefined;
  const keys = await keysFor(options, options, embedded);
  if (!keys)
    throw new ConfigError("cannot verify", ["no audit public key: pass --key FILE or --key-fingerprint FP"]);
  const verifier = new ChainVerifier(checkpoints, keys.keys);
  if (!header) verifier.malformed("line 1", "the export header (with its signed head) is missing");
  // Pass 2: the records, in file order.
  for await (const item of readExport(options.file)) {
    if (verifier.failed) break;
    if (item.kind === "record") verifier.push(item.record, `line ${item.line}`);
    else if (item.kind === "bad") verifier.malformed(`line ${item.line}`, item.why);
  }
  return classify(verifier.finish({ requireSignedTail: true }), options.file, keys);
}

/** Verifies the live chain in the database. */
export async function verifyAuditStore(options: AuditLocation & Pins): Promise<VerifyReport> {
  const keys = await keysFor(options, options);
  return withStore(options, async (store) => {
    if (!keys)
      throw new ConfigError("cannot verify", [
        "no audit public key in the data dir: pass --key FILE or --key-fingerprint FP",
      ]);
    return classify(await verifyStore(store, keys.keys), "database", keys);
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

/**
 * The audit key's public half, for verifiers to pin (created with the key if missing), and its
 * fingerprint `audit-<RFC 7638 thumbprint>` (the kid every checkpoint and checkpoint log line names).
 */
export async function auditPublicKey(
  options: AuditLocation,
): Promise<{ keys: unknown[]; path: string; fingerprint: string }> {
  const config = locate(options);
  if (config.auditKeyPath !== undefined) {
    // Read-only: an auditor reading the key off a mounted Secret needs no data dir.
    const key = await readAuditPrivateKey(config.auditKeyPath);
    const jwk = await publicJwkOf(key, "audit");
    return { keys: [jwk], path: config.auditKeyPath, fingerprint: `audit-${thumbprintOf(key)}` };
  }
  const key = await loadOrCreateAuditKey(config.dataDir, config.auditKeyPath);
  return { keys: [key.publicJwk], path: key.jwksPath, fingerprint: `audit-${thumbprintOf(key.privateKey)}` };
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
  options: AuditLocation & Pins & { since: string; file?: string; now?: number },
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
  const keys = await keysFor(options, options);
  if (!keys)
    throw new ConfigError("cannot report", [
      "no audit public key in the data dir: pass --key FILE or --key-fingerprint FP",
    ]);
  return withStore(options, async (store) => {
    const chain = classify(await verifyStore(store, keys.keys), "database", keys);
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
