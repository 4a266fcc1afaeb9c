/**
 * The S3 artifact store. A streamed write goes through lib-storage's `Upload` (a multipart upload
 * for anything past one part, a single PUT otherwise) fed by a PassThrough that is ended only on
 * `commit()`: until then S3 has at most unfinished parts, never a visible object. `abort()` fails the
 * body, and lib-storage aborts the multipart upload before `done()` settles.
 */

import { PassThrough, type Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { ArtifactStoreConfig } from "../config.js";
import { createS3Client, describeS3Failure } from "./s3-client.js";
import { createDirectUploads } from "./s3-direct-uploads.js";
import { type ArtifactStore, ArtifactStoreError, type ArtifactWrite, type StoredObject } from "./types.js";

export type S3StoreConfig = Extract<ArtifactStoreConfig, { kind: "s3" }>;

/** Builds the store. `client` is injectable so tests can point it at s3rver with its credentials. */
export function openS3ArtifactStore(
  config: S3StoreConfig,
  client: S3Client = createS3Client(config),
): ArtifactStore {
  const keyOf = (location: string): string => {
    const prefix = `s3://${config.bucket}/`;
    if (!location.startsWith(prefix))
      throw new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", "artifact location is not in this bucket");
    return location.slice(prefix.length);
  };
  const sse = config.sse
    ? {
        ServerSideEncryption: config.sse.mode,
        ...(config.sse.kmsKeyId ? { SSEKMSKeyId: config.sse.kmsKeyId } : {}),
      }
    : {};
  return {
    kind: "s3",
    maxBytes: config.maxBytes,
    direct: createDirectUploads(client, config, sse),
    async beginWrite(key, { contentType }) {
      const fullKey = `${config.prefix}${key}`;
      const body = new PassThrough({ highWaterMark: 1024 * 1024 });
      const upload = new Upload({
        client,
        params: { Bucket: config.bucket, Key: fullKey, Body: body, ContentType: contentType, ...sse },
        partSize: Math.max(config.partSizeBytes, 5 * 1024 * 1024),
        queueSize: 4,
        leavePartsOnError: false,
      });
      return s3Write(upload, body, `s3://${config.bucket}/${fullKey}`, config.maxBytes);
    },
    async open(location) {
      try {
        const answer = await client.send(
          new GetObjectCommand({ Bucket: config.bucket, Key: keyOf(location) }),
        );
        return answer.Body as Readable;
      } catch (err) {
        throw new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", describeS3Failure(err), { cause: err });
      }
    },
    async delete(location) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: keyOf(location) }));
      } catch (err) {
        throw new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", describeS3Failure(err), { cause: err });
      }
    },
    async close() {
      client.destroy();
    },
  };
}

function s3Write(upload: Upload, body: PassThrough, location: string, maxBytes: number): ArtifactWrite {
  let bytes = 0;
  let failure: ArtifactStoreError | undefined;
  const done = upload.done().then(
    () => undefined,
    (err: unknown) => {
      failure ??= new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", describeS3Failure(err), { cause: err });
      return failure;
    },
  );
  const fail = async (reason: ArtifactStoreError) => {
    failure ??= reason;
    // Failing the body makes lib-storage abort the multipart upload; wait for it to finish that.
    body.destroy(reason);
    await done;
  };
  return {
    async write(chunk) {
      if (failure) throw failure;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        const tooLarge = new ArtifactStoreError(
          "KH_ARTIFACT_TOO_LARGE",
          `the artifact exceeds the store's limit of ${maxBytes} bytes`,
        );
        await fail(tooLarge);
        throw tooLarge;
      }
      if (!body.write(chunk)) {
        // Wait for room, or for the upload to fail (S3 gone): never for a drain that cannot come.
        const settled = await Promise.race([
          new Promise<"drain">((ok) => body.once("drain", () => ok("drain"))),
          done,
        ]);
        if (settled !== "drain" && failure) throw failure;
      }
      if (failure) throw failure;
    },
    async commit(): Promise<StoredObject> {
      if (failure) throw failure;
      body.end();
      const error = await done;
      if (error) throw error;
      return { location, size: bytes };
    },
    async abort() {
      await fail(new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", "aborted"));
    },
  };
}
