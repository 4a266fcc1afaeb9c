/**
 * The S3 artifact store. A streamed write goes through `s3MultipartWrite` (pooled part buffers, a
 * multipart upload past one part, a single PUT otherwise, made visible only on `commit()`); the s3
 * output mode's direct uploads through `createDirectUploads`.
 */

import type { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ArtifactStoreConfig } from "../config.js";
import { createS3Client, describeS3Failure } from "./s3-client.js";
import { createDirectUploads } from "./s3-direct-uploads.js";
import { s3MultipartWrite } from "./s3-multipart-write.js";
import { type ArtifactStore, ArtifactStoreError } from "./types.js";

export type S3StoreConfig = Extract<ArtifactStoreConfig, { kind: "s3" }>;

/** Parts of a streamed write uploading at once (lib-storage's default queue size). */
const PARTS_IN_FLIGHT = 4;

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
      return s3MultipartWrite(client, {
        bucket: config.bucket,
        key: `${config.prefix}${key}`,
        contentType,
        sse,
        partSize: Math.max(config.partSizeBytes, 5 * 1024 * 1024),
        queueSize: PARTS_IN_FLIGHT,
        maxBytes: config.maxBytes,
      });
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
