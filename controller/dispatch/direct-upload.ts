/**
 * The s3 output mode on the controller's side, after the agent answered: check its report, complete
 * the multipart upload, check what S3 now holds, and decide the digest. Never throws: every ending
 * is an outcome, and every failing ending leaves nothing behind (the upload aborted, or the object
 * deleted when it was already completed).
 *
 * The digest: an object up to `readBackMaxBytes` is streamed back once and hashed here, so its
 * SHA-256 is the controller's own ("controller"); a larger one keeps the agent's digest, recorded as
 * "agent-reported" (its size is still checked against S3's). Reading back a multi-gigabyte heap
 * snapshot would double the transfer for a check the agent's signed request already anchors.
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
      readonly digestSource: "controller" | "agent-reported";
    }
  | { readonly ok: false; readonly status?: number; readonly code: string; readonly message: string };

/** Completes (or aborts) `upload` from the agent's answer `sent`. */
export async function finishDirectUpload(
  store: ArtifactStore,
  upload: DirectUpload,
  sent: SendOutcome,
  options: { readBackMaxBytes: number },
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
  if (numbers.some((n, i) => n !== i + 1) || numbers.length > upload.signatures.length) {
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
  if (size !== report.upload.bytes) {
    return discard(
      "KH_ARTIFACT_DIGEST_MISMATCH",
      `the store holds ${size} bytes but the agent reported ${report.upload.bytes}`,
    );
  }
  if (size > options.readBackMaxBytes) {
    return {
      ok: true,
      status: sent.status,
      report,
      size,
      sha256: report.upload.sha256,
      digestSource: "agent-reported",
    };
  }
  let ours: string;
  try {
    const hash = createHash("sha256");
    for await (const chunk of (await store.open(upload.location)) as AsyncIterable<Buffer>)
      hash.update(chunk);
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
