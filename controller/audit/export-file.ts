/**
 * The export format, JSON Lines (`keyhole-audit/1`):
 *
 *   {"export":{"format":"keyhole-audit/1","exportedAt":…,"head":{"seq":N,"hash":…},"checkpoint":{…},"publicKeys":[…]}}
 *   {"actor":…,"details":…,"event":…,"hash":…,"prevHash":…,"reason":…,"requestId":…,"seq":1,"ticket":…,"time":…}
 *   {"checkpoint":{"seq":…,"hash":…,"time":…,"kid":…,"signature":…}}
 *   …
 *
 * The first line names the head of the chain at export time with a checkpoint signed for the export,
 * so a file cut short, or extended, no longer matches a signature. Every record is one line, its
 * fields in canonical order, exactly as it was hashed (plus its hash). Each stored checkpoint follows
 * the record it covers. `publicKeys` says which key signed; a verifier should pin its own copy
 * (`--key`), since whoever can edit the file can also swap the key in it.
 */
import { createReadStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { PublicJwk } from "../keys.js";
import type { Store } from "../store/types.js";
import { canonicalJson } from "./canonical-json.js";
import type { AuditRecord } from "./chain.js";
import { type AuditCheckpoint, parseCheckpoint } from "./checkpoint.js";

export const EXPORT_FORMAT = "keyhole-audit/1";

export interface ExportHeader {
  readonly format: string;
  readonly exportedAt: string;
  readonly head: { readonly seq: number; readonly hash: string };
  readonly checkpoint: AuditCheckpoint;
  readonly publicKeys: readonly PublicJwk[];
}

/**
 * Writes records 1..`checkpoint.seq` and their checkpoints to `path` (through a temporary file, mode
 * 0600: records hold subjects and reasons). Returns how many records and checkpoints it wrote.
 */
export async function writeExport(
  store: Store,
  path: string,
  header: { checkpoint: AuditCheckpoint; publicKeys: readonly PublicJwk[]; exportedAt: number },
): Promise<{ records: number; checkpoints: number }> {
  const head = { seq: header.checkpoint.seq, hash: header.checkpoint.hash };
  const checkpoints = (await store.listCheckpoints()).filter((c) => c.seq <= head.seq);
  const temp = `${path}.${process.pid}.tmp`;
  const file = await open(temp, "w", 0o600);
  let records = 0;
  try {
    let buffer: string[] = [];
    const flush = async () => {
      if (buffer.length > 0) await file.write(buffer.join(""));
      buffer = [];
    };
    const exportHeader: ExportHeader = {
      format: EXPORT_FORMAT,
      exportedAt: new Date(header.exportedAt).toISOString(),
      head,
      checkpoint: header.checkpoint,
      publicKeys: header.publicKeys,
    };
    buffer.push(`${JSON.stringify({ export: exportHeader })}\n`);
    let next = 0;
    while (next < checkpoints.length && checkpoints[next]!.seq === 0)
      buffer.push(`${JSON.stringify({ checkpoint: checkpoints[next++] })}\n`);
    let after = 0;
    while (after < head.seq) {
      const page = await store.listAudit({ afterSeq: after, limit: Math.min(5000, head.seq - after) });
      if (page.length === 0) break;
      for (const record of page) {
        buffer.push(`${canonicalJson(record)}\n`);
        records++;
        while (next < checkpoints.length && checkpoints[next]!.seq <= record.seq)
          buffer.push(`${JSON.stringify({ checkpoint: checkpoints[next++] })}\n`);
      }
      after = page.at(-1)!.seq;
      await flush();
    }
    await flush();
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(temp, { force: true });
    throw err;
  }
  await file.close();
  await rename(temp, path);
  return { records, checkpoints: checkpoints.length };
}

/** One line of an export file as read back. */
export type ExportLine =
  | { readonly kind: "header"; readonly header: ExportHeader; readonly line: number }
  | { readonly kind: "checkpoint"; readonly checkpoint: AuditCheckpoint; readonly line: number }
  | { readonly kind: "record"; readonly record: AuditRecord; readonly line: number }
  | { readonly kind: "bad"; readonly why: string; readonly line: number };

/** Reads an export line by line (constant memory). `metaOnly` skips parsing record lines. */
export async function* readExport(path: string, metaOnly = false): AsyncGenerator<ExportLine> {
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    const meta = text.startsWith('{"export"') || text.startsWith('{"checkpoint"');
    if (metaOnly && !meta) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      yield { kind: "bad", why: "not JSON", line };
      continue;
    }
    if (value && typeof value === "object" && "export" in value) {
      const h = (value as { export: Record<string, unknown> }).export;
      const checkpoint = parseCheckpoint(h?.checkpoint);
      if (!checkpoint || !Array.isArray(h?.publicKeys))
        yield { kind: "bad", why: "an export header without its checkpoint", line };
      else yield { kind: "header", header: { ...(h as unknown as ExportHeader), checkpoint }, line };
      continue;
    }
    if (value && typeof value === "object" && "checkpoint" in value) {
      const checkpoint = parseCheckpoint((value as { checkpoint: unknown }).checkpoint);
      if (!checkpoint) yield { kind: "bad", why: "a checkpoint without all its fields", line };
      else yield { kind: "checkpoint", checkpoint, line };
      continue;
    }
    const record = parseRecord(value);
    if (typeof record === "string") yield { kind: "bad", why: record, line };
    else yield { kind: "record", record, line };
  }
}

const RECORD_FIELDS = new Set([
  "seq",
  "time",
  "actor",
  "event",
  "requestId",
  "details",
  "reason",
  "ticket",
  "prevHash",
  "hash",
]);
const nullableString = (v: unknown) => v === null || typeof v === "string";

/** A record from untrusted JSON, or why it is not one. Its hash is checked by the verifier. */
export function parseRecord(value: unknown): AuditRecord | string {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object" || Array.isArray(v)) return "not a JSON object";
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 1) return "no valid seq";
  if (typeof v.hash !== "string" || typeof v.prevHash !== "string") return "no hash or prevHash";
  if (typeof v.time !== "string" || typeof v.actor !== "string" || typeof v.event !== "string")
    return "no time, actor or event";
  if (!nullableString(v.requestId) || !nullableString(v.reason) || !nullableString(v.ticket))
    return "a requestId, reason or ticket that is not a string or null";
  if (!v.details || typeof v.details !== "object" || Array.isArray(v.details))
    return "details is not an object";
  // An extra field would not be covered by the hash, so it is refused rather than ignored. An
  // unknown event name is fine: a later version may add events, and the hash decides.
  const extra = Object.keys(v).find((k) => !RECORD_FIELDS.has(k));
  if (extra !== undefined) return `an unknown field "${extra.slice(0, 40)}"`;
  return {
    seq: v.seq,
    time: v.time,
    actor: v.actor,
    event: v.event as AuditRecord["event"],
    requestId: v.requestId as string | null,
    details: v.details as Record<string, unknown>,
    reason: v.reason as string | null,
    ticket: v.ticket as string | null,
    prevHash: v.prevHash,
    hash: v.hash,
  };
}
