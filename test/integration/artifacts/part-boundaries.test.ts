/**
 * Part boundaries of both S3 writers against a real s3rver: the controller's streamed write
 * (s3MultipartWrite, pooled part buffers) and the agent's presigned upload. Empty, exactly one part,
 * one byte more, exact multiples, chunks straddling parts: the object read back is the bytes written.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partBuffers, uploadPresigned } from "../../../agent/bundle/s3-presigned.js";
import { createS3Client } from "../../../controller/artifacts/s3-client.js";
import { openS3ArtifactStore } from "../../../controller/artifacts/s3-store.js";
import type { ArtifactStore } from "../../../controller/artifacts/types.js";
import type { S3Output } from "../../../protocol/request.js";
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from "../../helpers/s3rver.js";
import { sha256 } from "./harness.js";

const MIB = 1024 * 1024;
const PART = 5 * MIB;
let s3: TestS3;
let store: ArtifactStore;

beforeAll(async () => {
  s3 = await startS3();
  const config = s3.storeConfig({ partSizeBytes: PART, maxBytes: 32 * MIB });
  store = openS3ArtifactStore(
    config,
    createS3Client(config, { credentials: S3RVER_CREDENTIALS, maxAttempts: 2 }),
  );
});
afterAll(async () => {
  await store?.close();
  await s3?.close();
});

async function readBack(key: string): Promise<Buffer> {
  const client = s3.client();
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

const SIZES = [0, 1, PART, PART + 1, 2 * PART + 12_345];

describe("the controller's streamed S3 write", () => {
  it.each(SIZES)("stores %i bytes written in 300 KB chunks exactly", async (size) => {
    const data = randomBytes(size);
    const write = await store.beginWrite(`bounds/controller-${size}`, {
      contentType: "application/octet-stream",
    });
    for (let i = 0; i < data.length; i += 300_000) await write.write(data.subarray(i, i + 300_000));
    const stored = await write.commit();
    expect(stored).toEqual({ location: `s3://${s3.bucket}/bounds/controller-${size}`, size });
    expect(sha256(await readBack(`bounds/controller-${size}`))).toBe(sha256(data));
    expect(await s3.openUploads()).toEqual([]);
  });

  it("a single chunk larger than two parts is cut correctly too", async () => {
    const data = randomBytes(2 * PART + 7);
    const write = await store.beginWrite("bounds/one-chunk", { contentType: "application/octet-stream" });
    await write.write(data);
    await write.commit();
    expect(sha256(await readBack("bounds/one-chunk"))).toBe(sha256(data));
  });

  it("abort after parts were sent leaves no object and no open upload", async () => {
    const before = await s3.objectKeys();
    const write = await store.beginWrite("bounds/aborted", { contentType: "application/octet-stream" });
    await write.write(randomBytes(2 * PART + 1));
    await write.abort();
    expect(await s3.objectKeys()).toEqual(before);
    expect(await s3.openUploads()).toEqual([]);
  });
});

describe("payload signing", () => {
  it("sends the bytes as UNSIGNED-PAYLOAD (no second SHA-256 pass), still SigV4-signed", async () => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on("end", () => res.writeHead(200, { etag: '"e"' }).end());
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const config = { ...s3.storeConfig(), endpoint };
    const capture = openS3ArtifactStore(config, createS3Client(config, { credentials: S3RVER_CREDENTIALS }));
    try {
      const write = await capture.beginWrite("bounds/unsigned", { contentType: "text/plain" });
      await write.write(Buffer.from("hello"));
      await write.commit();
      expect(seen).toHaveLength(1);
      expect(seen[0]!["x-amz-content-sha256"]).toBe("UNSIGNED-PAYLOAD");
      expect(seen[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=S3RVER\//);
    } finally {
      await capture.close();
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});

describe("the agent's presigned upload", () => {
  it("keeps at most 48 MiB of part buffers (never fewer than two parts)", () => {
    expect(partBuffers(5 * MIB)).toBe(5);
    expect(partBuffers(8 * MIB)).toBe(5);
    expect(partBuffers(16 * MIB)).toBe(3);
    expect(partBuffers(64 * MIB)).toBe(2);
  });

  it.each(SIZES)(
    "uploads %i bytes exactly: full parts of the signed size, then a shorter tail",
    async (size) => {
      const data = randomBytes(size);
      const upload = await store.direct!.create(`bounds/agent-${size}`, {
        contentType: "application/octet-stream",
        expiresInSeconds: 60,
        signingDate: new Date(),
      });
      const output: S3Output = {
        mode: "s3",
        url: upload.url,
        partSize: upload.partSize,
        parts: upload.signatures.map((signature, i) => ({ partNumber: i + 1, signature })),
        tail: upload.tail,
      };
      // 64 KiB chunks, like a streamed action.
      const chunks = [];
      for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
      const result = await uploadPresigned(Readable.from(chunks), output, AbortSignal.timeout(20_000));
      expect(result.bytes).toBe(size);
      const full = Math.floor(size / upload.partSize);
      const short = size === 0 || size % upload.partSize !== 0;
      expect(result.parts.map((p) => p.partNumber)).toEqual([
        ...Array.from({ length: full }, (_, i) => i + 1),
        ...(short ? [upload.tail.partNumber] : []),
      ]);
      expect(await store.direct!.complete(upload, result.parts)).toMatchObject({ size });
      expect(sha256(await readBack(`bounds/agent-${size}`))).toBe(sha256(data));
    },
  );
});
