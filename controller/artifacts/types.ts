/**
 * The artifact store: where streamed results end up. One interface, two implementations (a local
 * folder under the data dir, an S3 bucket). Every write is staged (a temporary file, a multipart
 * upload) and becomes visible only on `commit()`, which the caller calls only after checking the
 * digest; `abort()` discards everything staged. A store never registers anything: the database
 * does, after the commit.
 */
import type { Readable } from "node:stream";

/** Where a committed object lives: a file path, or `s3://bucket/key`. */
export interface StoredObject {
  readonly location: string;
  readonly size: number;
}

/** One staged write. Acquire with `beginWrite`, then exactly one of commit or abort. */
export interface ArtifactWrite {
  /**
   * Accepts the next bytes (the caller must not modify `chunk` afterwards). Returns nothing when more may
   * be written at once, or a promise that resolves when it may (backpressure); throws or rejects
   * once the store failed. Not returning a promise on the fast path keeps a gigabyte of 64 KiB
   * chunks from costing a microtask round each.
   */
  write(chunk: Buffer): undefined | Promise<void>;
  /** Ends the write and makes the object visible; rejects (and discards) when the store fails. */
  commit(): Promise<StoredObject>;
  /** Discards whatever is staged. Safe after a failure, after commit failed, and twice. */
  abort(): Promise<void>;
}

/** A multipart upload the agent fills with presigned URLs (the s3 output mode). */
export interface DirectUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly location: string;
  readonly partSize: number;
  /** The presigned UploadPart URL without `partNumber` and `X-Amz-Signature`. */
  readonly url: string;
  /** One SigV4 signature per full part, part 1 first; each signs `content-length: partSize`. */
  readonly signatures: readonly string[];
  /** The last, shorter part: numbered after the full parts, its length not signed (checked at completion). */
  readonly tail: { readonly partNumber: number; readonly url: string };
}

/** The s3-only half: multipart uploads whose parts the agent sends itself. */
export interface DirectUploads {
  /** Creates a multipart upload of one object and presigns enough parts for `maxBytes`. */
  create(
    key: string,
    options: { contentType: string; expiresInSeconds: number; signingDate: Date },
  ): Promise<DirectUpload>;
  /**
   * Completes the upload with the agent's part ETags; returns the object's size as the store reports
   * it (the caller checks it and deletes the object when it is wrong).
   */
  complete(
    upload: DirectUpload,
    parts: readonly { partNumber: number; etag: string }[],
  ): Promise<StoredObject>;
  /** Aborts an unfinished upload (no-op if it is gone). */
  abort(upload: DirectUpload): Promise<void>;
}

export interface ArtifactStore {
  /** `local` or `s3`: recorded with each artifact. */
  readonly kind: "local" | "s3";
  /** The largest artifact accepted, in bytes. */
  readonly maxBytes: number;
  /** Present only where the agent can upload directly (S3). */
  readonly direct: DirectUploads | undefined;
  /** Stages a new object under `key` (a relative name made of safe characters). */
  beginWrite(key: string, options: { contentType: string }): Promise<ArtifactWrite>;
  /** Reads a committed object. */
  open(location: string): Promise<Readable>;
  /** Deletes a committed object; deleting one that is already gone succeeds. */
  delete(location: string): Promise<void>;
  /** Releases clients and handles. */
  close(): Promise<void>;
}

/** A store failure with a reason fit for a failed request's message (never a credential). */
export class ArtifactStoreError extends Error {
  constructor(
    readonly code: "KH_ARTIFACT_STORE_FAILED" | "KH_ARTIFACT_TOO_LARGE",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ArtifactStoreError";
  }
}
