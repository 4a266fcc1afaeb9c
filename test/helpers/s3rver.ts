/**
 * A real S3-compatible server for tests: s3rver on 127.0.0.1 (port 0, a temp dir, one bucket), behind
 * a thin proxy that adds the two things s3rver lacks and these tests need:
 *
 * - SigV4 presigned-URL checks. s3rver accepts any V4 signature; the proxy recomputes it (the
 *   algorithm from the AWS docs, written out independently of the SDK) and refuses a URL used for
 *   another key, part or upload with 403 SignatureDoesNotMatch, and an expired one with 403
 *   AccessDenied "Request has expired", as S3 does.
 * - AbortMultipartUpload, which s3rver does not implement: the proxy removes the upload's parts.
 *
 * `goAway()` stops answering mid-flight (every open connection cut, new ones refused): the store
 * going away during an upload.
 */
import { createHash, createHmac } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { S3StoreConfig } from "../../controller/artifacts/s3-store.js";

/** The slice of s3rver's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (
  options: Record<string, unknown>,
) => S3rverInstance;

/** s3rver's built-in account. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface TestS3 {
  readonly endpoint: string;
  readonly bucket: string;
  readonly dir: string;
  /** An artifact-store config pointing at this server. */
  storeConfig(overrides?: Partial<S3StoreConfig>): S3StoreConfig;
  /** A client with s3rver's credentials (few retries, so failures are quick). */
  client(options?: { credentials?: { accessKeyId: string; secretAccessKey: string } }): S3Client;
  /** Keys of every object in the bucket. */
  objectKeys(): Promise<string[]>;
  /** Ids of multipart uploads neither completed nor aborted. */
  openUploads(): Promise<string[]>;
  /** Every request the proxy saw, as `METHOD path?query`. */
  readonly requests: string[];
  /** Cuts every connection and refuses new ones until `comeBack()`. */
  goAway(): void;
  comeBack(): void;
  close(): Promise<void>;
}

/** Starts s3rver and its proxy with `bucket` created. */
export async function startS3(bucket = "keyhole-artifacts"): Promise<TestS3> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-s3-"));
  const s3rver = new S3rver({ port: 0, address: "127.0.0.1", directory: dir, silent: true });
  const { port: upstreamPort } = await s3rver.run();
  const uploadsDir = s3rver.store.getResourcePath(bucket, undefined, "uploads");
  const requests: string[] = [];
  let away = false;

  const proxy: Server = createServer((req, res) => {
    if (away) {
      req.socket.destroy();
      return;
    }
    requests.push(`${req.method} ${req.url}`);
    void handle(req, res).catch(() => res.destroy());
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://placeholder");
    if (url.searchParams.has("X-Amz-Signature")) {
      const refusal = checkPresigned(req, url);
      if (refusal) {
        req.resume();
        res.writeHead(403, { "content-type": "application/xml" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message></Error>`,
        );
        return;
      }
    }
    const uploadId = url.searchParams.get("uploadId");
    if (req.method === "DELETE" && uploadId) {
      await rm(join(uploadsDir, uploadId.replace(/[^A-Za-z0-9]/g, "")), { recursive: true, force: true });
      req.resume();
      res.writeHead(204).end();
      return;
    }
    const upstream = httpRequest(
      { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    // A client cut off mid-body (goAway) must not leave s3rver waiting for the rest forever.
    req.once("close", () => {
      if (!req.complete) upstream.destroy();
    });
    req.pipe(upstream);
  }
  await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const client = (options: { credentials?: { accessKeyId: string; secretAccessKey: string } } = {}) =>
    new S3Client({
      region: "us-east-1",
      endpoint,
      forcePathStyle: true,
      credentials: options.credentials ?? S3RVER_CREDENTIALS,
      maxAttempts: 2,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  const admin = client();
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));

  return {
    endpoint,
    bucket,
    dir,
    requests,
    storeConfig: (overrides = {}) => ({
      kind: "s3",
      bucket,
      prefix: "",
      endpoint,
      forcePathStyle: true,
      region: "us-east-1",
      sse: undefined,
      partSizeBytes: 5 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      ...overrides,
    }),
    client,
    objectKeys: async () => {
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (listed.Contents ?? []).map((o) => o.Key!).sort();
    },
    openUploads: async () => readdir(uploadsDir).catch(() => []),
    goAway: () => {
      away = true;
      proxy.closeAllConnections();
    },
    comeBack: () => {
      away = false;
    },
    close: async () => {
      admin.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((ok) => proxy.close(() => ok()));
      await s3rver.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
const encode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/** Recomputes a presigned URL's SigV4 signature; returns why it is refused, or undefined. */
function checkPresigned(req: IncomingMessage, url: URL): { code: string; message: string } | undefined {
  const q = url.searchParams;
  const amzDate = q.get("X-Amz-Date") ?? "";
  const expires = Number(q.get("X-Amz-Expires"));
  const [accessKey, date, region, service] = (q.get("X-Amz-Credential") ?? "").split("/");
  const signedAt = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"),
  );
  if (!(signedAt + expires * 1000 >= Date.now()))
    return { code: "AccessDenied", message: "Request has expired" };
  if (accessKey !== S3RVER_CREDENTIALS.accessKeyId)
    return {
      code: "InvalidAccessKeyId",
      message: "The AWS Access Key Id you provided does not exist in our records.",
    };
  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const signedHeaders = q.get("X-Amz-SignedHeaders") ?? "host";
  const canonicalHeaders = signedHeaders
    .split(";")
    .map((h) => `${h}:${String(req.headers[h] ?? "").trim()}\n`)
    .join("");
  const canonicalRequest = [
    req.method,
    url.pathname,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    q.get("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD",
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  let key = hmac(`AWS4${S3RVER_CREDENTIALS.secretAccessKey}`, date ?? "");
  for (const part of [region ?? "", service ?? "", "aws4_request"]) key = hmac(key, part);
  const expected = createHmac("sha256", key).update(stringToSign).digest("hex");
  if (expected !== q.get("X-Amz-Signature"))
    return {
      code: "SignatureDoesNotMatch",
      message: "The request signature we calculated does not match the signature you provided.",
    };
  return undefined;
}
