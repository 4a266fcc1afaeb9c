/**
 * The S3 client for the artifact store. Credentials come from the standard AWS chain (environment,
 * shared files, SSO, web identity, instance or container roles); nothing here reads them.
 */
import { S3Client } from "@aws-sdk/client-s3";
import type { ArtifactStoreConfig } from "../config.js";

type S3Config = Extract<ArtifactStoreConfig, { kind: "s3" }>;

/** Builds the client. `credentials` is for tests and the bench only. */
export function createS3Client(
  config: S3Config,
  overrides: { credentials?: { accessKeyId: string; secretAccessKey: string }; maxAttempts?: number } = {},
): S3Client {
  return new S3Client({
    // An S3-compatible endpoint usually ignores the region, but SigV4 needs one.
    ...(config.region ? { region: config.region } : config.endpoint ? { region: "us-east-1" } : {}),
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    // No flexible checksums: the SDK would otherwise sign a CRC32 of the *empty* body into presigned
    // UploadPart URLs, which S3 then refuses for the real bytes. Integrity is our SHA-256 instead.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...(overrides.maxAttempts ? { maxAttempts: overrides.maxAttempts } : {}),
    ...(overrides.credentials ? { credentials: overrides.credentials } : {}),
  });
}

/** One line saying why an S3 call failed, without request ids or credentials. */
export function describeS3Failure(err: unknown): string {
  const e = err as {
    name?: string;
    Code?: string;
    message?: string;
    code?: string;
    cause?: { code?: string };
    $metadata?: { httpStatusCode?: number };
  };
  const network = e.code ?? e.cause?.code;
  if (network && /^E[A-Z]+$/.test(network)) return `the S3 store is unreachable (${network})`;
  const name = e.Code ?? e.name ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  if (/InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|InvalidToken/.test(name))
    return `the S3 store refused the credentials (${name})`;
  if (name === "CredentialsProviderError") return "no AWS credentials found in the standard chain";
  if (name === "NoSuchBucket") return "the S3 bucket does not exist (NoSuchBucket)";
  return `${name}${status ? ` (HTTP ${status})` : ""}: ${(e.message ?? "").slice(0, 200)}`;
}
