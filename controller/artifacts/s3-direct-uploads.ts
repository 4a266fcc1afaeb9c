/**
 * Direct uploads (the s3 output mode): the controller creates one multipart upload and presigns its
 * `UploadPart` URLs, the agent PUTs the parts, the controller completes or aborts. Presigning is local
 * HMAC work; the only calls to S3 are create, complete and abort.
 *
 * The bound is S3's to enforce (issue 23, finding 2): every full part's URL signs
 * `content-length: partSize`, so S3 refuses a part of any other length (SignatureDoesNotMatch). Only
 * the last part's length is unknown when the request is signed; it gets one URL of its own, numbered
 * after the full parts, and the controller checks the completed object's size against the parts and
 * `--artifact-max-mib` before recording anything (controller/dispatch/direct-upload.ts).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { describeS3Failure } from "./s3-client.js";
import type { S3StoreConfig } from "./s3-store.js";
import { ArtifactStoreError, type DirectUploads } from "./types.js";

/**
 * The most parts one envelope carries. Each costs ~85 bytes of the agent's 64 KiB envelope limit
 * (base64url adds a third), so 256 leaves room for everything else; the part size grows instead.
 */
export const MAX_PRESIGNED_PARTS = 256;
const MIB = 1024 * 1024;

/** The part size and count that cover `maxBytes` within MAX_PRESIGNED_PARTS. */
export function planParts(maxBytes: number, partSizeBytes: number): { partSize: number; parts: number } {
  let partSize = partSizeBytes;
  if (Math.ceil(maxBytes / partSize) > MAX_PRESIGNED_PARTS)
    partSize = Math.ceil(maxBytes / MAX_PRESIGNED_PARTS / MIB) * MIB;
  return { partSize, parts: Math.max(1, Math.ceil(maxBytes / partSize)) };
}

/** Splits a presigned part URL into the shared base and its own signature (see protocol/request.ts). */
export function splitPresignedUrl(url: string, partNumber: number): { base: string; signature: string } {
  const q = url.indexOf("?");
  let signature = "";
  const kept = url
    .slice(q + 1)
    .split("&")
    .filter((param) => {
      if (param.startsWith("X-Amz-Signature=")) {
        signature = param.slice("X-Amz-Signature=".length);
        return false;
      }
      return param !== `partNumber=${partNumber}`;
    });
  if (!/^[0-9a-f]{64}$/.test(signature) || kept.length === url.slice(q + 1).split("&").length - 1)
    throw new Error("the presigned URL does not have the expected SigV4 shape");
  return { base: `${url.slice(0, q)}?${kept.join("&")}`, signature };
}

export function createDirectUploads(
  client: S3Client,
  config: S3StoreConfig,
  sse: Record<string, string>,
): DirectUploads {
  const fail = (err: unknown, what: string) =>
    new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", `${what}: ${describeS3Failure(err)}`, { cause: err });
  return {
    async create(key, { contentType, expiresInSeconds, signingDate }) {
      const Key = `${config.prefix}${key}`;
      let uploadId: string | undefined;
      try {
        ({ UploadId: uploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: config.bucket, Key, ContentType: contentType, ...sse }),
        ));
      } catch (err) {
        throw fail(err, "cannot create the multipart upload");
      }
      if (!uploadId) throw new ArtifactStoreError("KH_ARTIFACT_STORE_FAILED", "S3 returned no upload id");
      const { partSize, parts } = planParts(config.maxBytes, config.partSizeBytes);
      // One signing date for all parts, so their URLs differ only in partNumber and signature.
      const signatures: string[] = [];
      let url = "";
      const tail = { partNumber: parts + 1, url: "" };
      const presign = (PartNumber: number, ContentLength?: number) =>
        getSignedUrl(
          client,
          new UploadPartCommand({
            Bucket: config.bucket,
            Key,
            UploadId: uploadId,
            PartNumber,
            // Signed: S3 takes exactly this many bytes with this URL, not up to 5 GiB.
            ...(ContentLength === undefined ? {} : { ContentLength }),
          }),
          { expiresIn: expiresInSeconds, signingDate },
        );
      try {
        for (let n = 1; n <= parts; n++) {
          const signed = await presign(n, partSize);
          if (!/[?&]X-Amz-SignedHeaders=content-length(%3B|;)/.test(signed))
            throw new Error("the presigner did not sign the part's content-length");
          const { base, signature } = splitPresignedUrl(signed, n);
          if (n === 1) url = base;
          else if (base !== url)
            throw new Error("presigned part URLs differ beyond partNumber and signature");
          signatures.push(signature);
        }
        tail.url = await presign(tail.partNumber);
      } catch (err) {
        await this.abort({ key: Key, uploadId, location: "", partSize, url, signatures, tail }).catch(
          () => {},
        );
        throw fail(err, "cannot presign the upload");
      }
      return {
        key: Key,
        uploadId,
        location: `s3://${config.bucket}/${Key}`,
        partSize,
        url,
        signatures,
        tail,
      };
    },
    async complete(upload, parts) {
      try {
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: config.bucket,
            Key: upload.key,
            UploadId: upload.uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        );
      } catch (err) {
        throw fail(err, "cannot complete the multipart upload");
      }
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: config.bucket, Key: upload.key }));
        return { location: upload.location, size: Number(head.ContentLength ?? -1) };
      } catch (err) {
        throw fail(err, "cannot read back the uploaded object");
      }
    },
    async abort(upload) {
      try {
        await client.send(
          new AbortMultipartUploadCommand({
            Bucket: config.bucket,
            Key: upload.key,
            UploadId: upload.uploadId,
          }),
        );
      } catch (err) {
        if ((err as { name?: string }).name === "NoSuchUpload") return;
        throw fail(err, "cannot abort the multipart upload");
      }
    },
  };
}
