/**
 * A streamed write into S3 without lib-storage: the bytes are copied once into a part buffer; a full
 * part is sent with UploadPart while the next one fills, at most `queueSize` parts in flight. The
 * part buffers come from a pool of `queueSize + 1` that is reused for the whole write, so memory is
 * bounded by that pool and a gigabyte costs no fresh 8 MiB allocations (page faults, GC) per part.
 *
 * Until `commit()` S3 holds at most unfinished parts, never a visible object: an artifact that fits
 * in one part is sent with one PutObject at commit; a larger one is a multipart upload created when
 * its first part is full and completed at commit. Every failure aborts the multipart upload.
 *
 * Why not lib-storage's `Upload`: fed by a PassThrough it re-reads every chunk through an async
 * iterator and concatenates each part into a fresh buffer; measured in bench/artifacts.ts, that was
 * a large part of the stream mode's controller CPU (see docs/artifacts.md, "Measured").
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { describeS3Failure } from "./s3-client.js";
import { ArtifactStoreError, type ArtifactWrite, type StoredObject } from "./types.js";

/**
 * Signs the request without hashing its body (`x-amz-content-sha256: UNSIGNED-PAYLOAD`, which S3
 * accepts on every endpoint). The SDK would otherwise run a second SHA-256 over every byte, on top of
 * the artifact digest the controller computes while receiving. That digest, recorded in the audit
 * log and checked on every download, is what proves the object; in transit to S3 the bytes are
 * protected by TLS (use an https endpoint), exactly as the s3 mode's presigned uploads are.
 */
function unsignedPayload<C extends { middlewareStack: { add: (...args: never[]) => void } }>(command: C): C {
  (command.middlewareStack as unknown as MiddlewareAdder).add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "keyholeUnsignedPayload" },
  );
  return command;
}

type MiddlewareAdder = {
  add(
    middleware: (
      next: (args: { request: unknown }) => Promise<unknown>,
    ) => (args: { request: unknown }) => Promise<unknown>,
    options: { step: "build"; name: string },
  ): void;
};

export interface S3MultipartWriteOptions {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  /** Server-side encryption parameters, passed on the create (or the single PUT). */
  readonly sse: Record<string, string>;
  readonly partSize: number;
  /** Parts uploading at once. */
  readonly queueSize: number;
  readonly maxBytes: number;
}

/** Starts a staged write; nothing is sent to S3 until the first part is full. */
export function s3MultipartWrite(client: S3Client, options: S3MultipartWriteOptions): ArtifactWrite {
  const { bucket, key, partSize, queueSize, maxBytes } = options;
  const location = `s3://${bucket}/${key}`;
  const pool: Buffer[] = [];
  let current: Buffer | undefined;
  let filled = 0;
  let bytes = 0;
  let nextPart = 1;
  let uploadId: Promise<string> | undefined;
  const etags: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: ArtifactStoreError | undefined;
  let settled = false;

  const storeFailure = (err: unknown, what: string) =>
    err instanceof ArtifactStoreError
      ? err
      : new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", `${what}: ${describeS3Failure(err)}`, {
          cause: err,
        });

  const createUpload = async (): Promise<string> => {
    const created = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ContentType: options.contentType,
        ...options.sse,
      }),
    );
    if (!created.UploadId) throw new Error("S3 returned no upload id");
    return created.UploadId;
  };

  /** Sends `buffer[0, length)` as part `partNumber`; the buffer returns to the pool once S3 has it. */
  const sendPart = (buffer: Buffer, length: number, partNumber: number): void => {
    uploadId ??= createUpload();
    const id = uploadId;
    const sent: Promise<void> = (async () => {
      try {
        const answer = await client.send(
          unsignedPayload(
            new UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: await id,
              PartNumber: partNumber,
              Body: buffer.subarray(0, length),
              ContentLength: length,
            }),
          ),
        );
        if (!answer.ETag) throw new Error(`S3 returned no ETag for part ${partNumber}`);
        etags[partNumber - 1] = answer.ETag;
        pool.push(buffer);
      } catch (err) {
        failure ??= storeFailure(err, `uploading part ${partNumber} failed`);
      }
    })().finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  };

  /** Hands the full current part to S3, waiting for a free slot first (backpressure). */
  const flush = async (): Promise<void> => {
    while (inFlight.size >= queueSize && !failure) await Promise.race(inFlight);
    if (failure) throw failure;
    sendPart(current!, filled, nextPart++);
    current = pool.pop() ?? Buffer.allocUnsafeSlow(partSize);
    filled = 0;
  };

  const abortUpload = async (): Promise<void> => {
    await Promise.all(inFlight);
    if (!uploadId) return;
    const id = await uploadId.catch(() => undefined);
    if (!id) return;
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }));
    } catch (err) {
      // NoSuchUpload: already gone. Otherwise S3 is unreachable: a lifecycle rule reaps the parts.
      if ((err as { name?: string }).name !== "NoSuchUpload") failure ??= storeFailure(err, "abort failed");
    }
  };

  /** Copies what fits; a part is sent only once a byte beyond it arrives, so no part is empty. */
  const write = (chunk: Buffer): undefined | Promise<void> => {
    if (failure) throw failure;
    current ??= pool.pop() ?? Buffer.allocUnsafeSlow(partSize);
    let offset = 0;
    while (offset < chunk.length) {
      if (filled === partSize) return flush().then(() => write(chunk.subarray(offset)));
      const n = Math.min(partSize - filled, chunk.length - offset);
      chunk.copy(current, filled, offset, offset + n);
      filled += n;
      offset += n;
    }
    return undefined;
  };

  return {
    write(chunk) {
      if (failure) throw failure;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        failure = new ArtifactStoreError(
          "KH_ARTIFACT_TOO_LARGE",
          `the artifact exceeds the store's limit of ${maxBytes} bytes`,
        );
        throw failure;
      }
      return write(chunk);
    },
    async commit(): Promise<StoredObject> {
      if (settled) throw new Error("artifact write already settled");
      settled = true;
      try {
        if (failure) throw failure;
        const body = (current ?? Buffer.alloc(0)).subarray(0, filled);
        if (!uploadId) {
          // One part or less: a single PUT, visible only now.
          await client.send(
            unsignedPayload(
              new PutObjectCommand({
                Bucket: bucket,
                Key: key,
                Body: body,
                ContentLength: body.length,
                ContentType: options.contentType,
                ...options.sse,
              }),
            ),
          );
          return { location, size: bytes };
        }
        sendPart(current!, filled, nextPart++);
        await Promise.all(inFlight);
        if (failure) throw failure;
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId: await uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
          }),
        );
        return { location, size: bytes };
      } catch (err) {
        failure ??= storeFailure(err, "storing the artifact failed");
        await abortUpload();
        throw failure;
      } finally {
        pool.length = 0;
        current = undefined;
      }
    },
    async abort() {
      if (settled) return;
      settled = true;
      failure ??= new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", "aborted");
      await abortUpload();
      pool.length = 0;
      current = undefined;
    },
  };
}
