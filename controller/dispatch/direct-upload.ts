/**
 * The s3 output mode on the controller's side, after the agent answered: check its report, complete
 * the multipart upload, check what S3 now holds, and decide the digest. Never throws: every ending
 * is an outcome, and every failing ending leaves nothing behind (the upload aborted, or the object
 * deleted when it was already completed).
 *
 * What it records is what it verified (issue 23, finding 2): the completed object's size must be
 * what the presigned parts allow (full parts of exactly `partSize`, which S3 enforces through the
 * signed length, then at most one shorter tail) and at most the store's `maxBytes`; and the digest is
 * always the controller's own, from streaming the object back once ("controller"). The agent's
 * reported size and digest are only compared with that, never recorded. Anything else deletes the
 * object.
 */
import { createHash } from "node:crypto";
import { type S3UploadResult, s3UploadResultSchema } from "../../protocol/request.js";
import type { ArtifactStore, DirectUpload } from "../artifacts/types.js";
import { ArtifactStoreError } from "../artifacts/types.js";
import type { SendOutcome } from "./send-envelope.js";

export type DirectOutcome =
  | {
      readonly ok: true;
      readonly status: number;
      readonly report: S3UploadResult;
      readonly size: number;
      readonly sha256: string;
      readonly digestSource: "controller";
    }
  | { readonly ok: false; readonly status?: number; readonly code: string; readonly message: string };

/** Completes (or aborts) `upload` from the agent's answer `sent`. */
export async function finishDirectUpload(
  store: ArtifactStore,
  upload: DirectUpload,
  sent: SendOutcome,
): Promise<DirectOutcome> {
  const direct = store.direct!;
  const abort = async () => {
    await direct.abort(upload).catch(() => {}); // S3 gone: a bucket lifecycle rule reaps the parts
  };
  if (!sent.ok) {
    await abort();
    return sent;
  }
  const parsed = s3UploadResultSchema.safeParse(sent.result);
  if (!parsed.success) {
    await abort();
    return fail(
      sent.status,
      "KH_AGENT_BAD_RESPONSE",
      "the agent's upload report does not match the protocol",
    );
  }
  const report = parsed.data;
  const numbers = report.upload.parts.map((p) => p.partNumber);
  // Full parts 1, 2, … k (k within the presigned ones), then at most the tail, last.
  const tailed = numbers.at(-1) === upload.tail.partNumber;
  const full = tailed ? numbers.slice(0, -1) : numbers;
  if (full.some((n, i) => n !== i + 1) || full.length > upload.signatures.length) {
    await abort();
    return fail(
      sent.status,
      "KH_AGENT_BAD_RESPONSE",
      "the agent reported parts that were not presigned in order",
    );
  }
  let size: number;
  try {
    ({ size } = await direct.complete(upload, report.upload.parts));
  } catch (err) {
    await abort();
    return storeFailed(sent.status, err);
  }
  const discard = async (code: string, message: string): Promise<DirectOutcome> => {
    await store.delete(upload.location).catch(() => {});
    return fail(sent.status, code, message);
  };
  if (size > store.maxBytes) {
    return discard(
      "KH_ARTIFACT_TOO_LARGE",
      `the store holds ${size} bytes, above the ${store.maxBytes}-byte limit (--artifact-max-mib); the object was deleted`,
    );
  }
  // S3 took each full part at exactly partSize (its length is signed); the tail is what remains.
  const fullBytes = full.length * upload.partSize;
  if (tailed ? size < fullBytes || size - fullBytes >= upload.partSize : size !== fullBytes) {
    return discard(
      "KH_AGENT_BAD_RESPONSE",
      `the store holds ${size} bytes, which is not ${full.length} part(s) of ${upload.partSize} bytes${tailed ? " and a shorter last one" : ""}; the object was deleted`,
    );
  }
  if (size !== report.upload.bytes) {
    return discard(
      "KH_ARTIFACT_DIGEST_MISMATCH",
      `the store holds ${size} bytes but the agent reported ${report.upload.bytes}`,
    );
  }
  // Streamed back once and hashed here, whatever the size: the recorded digest is never the agent's.
  let ours: string;
  let read = 0;
  try {
    const hash = createHash("sha256");
    for await (const chunk of (await store.open(upload.location)) as AsyncIterable<Buffer>) {
      read += chunk.length;
      if (read > size) throw new Error(`reading the object back gave more than its ${size} bytes`);
      hash.update(chunk);
    }
    if (read !== size) throw new Error(`reading the object back gave ${read} of its ${size} bytes`);
    ours = hash.digest("hex");
  } catch (err) {
    await store.delete(upload.location).catch(() => {});
    return storeFailed(sent.status, err);
  }
  if (ours !== report.upload.sha256) {
    return discard(
      "KH_ARTIFACT_DIGEST_MISMATCH",
      `the agent reported sha256 ${report.upload.sha256} but the stored ${size} bytes hash to ${ours}`,
    );
  }
  return { ok: true, status: sent.status, report, size, sha256: ours, digestSource: "controller" };
}

function fail(status: number | undefined, code: string, message: string): DirectOutcome {
  return { ok: false, ...(status ? { status } : {}), code, message };
}

function storeFailed(status: number | undefined, err: unknown): DirectOutcome {
  const code = err instanceof ArtifactStoreError ? err.code : "KH_ARTIFACT_STORE_FAILED";
  return fail(status, code, (err as Error).message);
}
