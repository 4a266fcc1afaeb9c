/**
 * The s3 output mode (the agent uploads with presigned URLs; no credentials in the agent) and the S3
 * store's failure paths, against a real s3rver on loopback behind a SigV4-checking proxy.
 */

import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { S3Output } from "../../../agent/protocol.js";
import { partUrl, uploadPresigned } from "../../../agent/sinks/s3-presigned.js";
import { startS3, type TestS3 } from "../../helpers/s3rver.js";
import {
  type ArtifactHarness,
  FAKE_AGENT,
  REAL_AGENT,
  sha256,
  startArtifactHarness,
  testBytes,
} from "./harness.js";

const MIB = 1024 * 1024;
let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.close();
});

describe("direct upload (output s3) from the real agent", () => {
  let h: ArtifactHarness;
  beforeAll(async () => {
    h = await startArtifactHarness({ s3, s3Store: { maxBytes: 32 * MIB } });
  });
  afterAll(async () => h?.close());
  afterEach(() => s3.comeBack());

  it("uploads a multi-part artifact with presigned URLs; the controller completes and verifies it", async () => {
    const request = await h.run("bytes", { size: 12 * MIB, seed: 11 }, "s3");
    expect(request.status, JSON.stringify(request.error)).toBe("completed");
    const { json } = await h.call("GET", `/v1/artifacts/${request.artifactId}`);
    expect(json.artifact).toMatchObject({
      size: 12 * MIB,
      sha256: sha256(testBytes(12 * MIB, 11)),
      digestSource: "controller",
      filename: `bytes-${12 * MIB}.bin`,
      store: "s3",
    });
    expect(await s3.objectKeys()).toContain(json.artifact.location.replace(`s3://${s3.bucket}/`, ""));
    expect(await s3.openUploads()).toEqual([]);
    // The parts went straight to S3 with presigned URLs: three UploadPart PUTs.
    expect(s3.requests.filter((r) => r.startsWith("PUT") && r.includes("X-Amz-Signature")).length).toBe(3);
    const dispatched = (await h.controller.store.listAudit()).find(
      (r) => r.event === "request.dispatched" && r.requestId === request.id,
    );
    expect(JSON.stringify(dispatched?.details)).not.toContain("X-Amz-Signature");
  });

  it("works with the bundle action too", async () => {
    const request = await h.run("bundle", { actions: [{ action: "process-info" }] }, "s3");
    expect(request.status, JSON.stringify(request.error)).toBe("completed");
    const content = await h.call("GET", `/v1/artifacts/${request.artifactId}/content`);
    expect(sha256(content.raw)).toBe(content.headers["x-keyhole-sha256"]);
  });

  it("fails clearly when S3 is down at dispatch, leaves nothing, and a retry works", async () => {
    const before = await s3.objectKeys();
    s3.goAway();
    const failed = await h.run("bytes", { size: MIB }, "s3");
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_ARTIFACT_STORE_FAILED");
    expect(failed.error.message).toMatch(/unreachable|ECONN|socket/i);
    s3.comeBack();
    expect(await s3.objectKeys()).toEqual(before);
    const retried = await h.run("bytes", { size: MIB }, "s3");
    expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
  });

  it("refuses an s3 request to an agent that cannot stream it (inline-only action)", async () => {
    const failed = await h.run("process-info", {}, "s3");
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_BAD_PARAMS");
    expect(await s3.openUploads()).toEqual([]);
  });
});

describe("digest source of large direct uploads", () => {
  it("records the agent's digest as agent-reported above the read-back size, after checking the size", async () => {
    const h = await startArtifactHarness({ s3, s3Store: { maxBytes: 32 * MIB }, readBackMaxBytes: MIB });
    try {
      const request = await h.run("bytes", { size: 2 * MIB, seed: 2 }, "s3", REAL_AGENT);
      expect(request.status, JSON.stringify(request.error)).toBe("completed");
      const { json } = await h.call("GET", `/v1/artifacts/${request.artifactId}`);
      expect(json.artifact).toMatchObject({
        digestSource: "agent-reported",
        sha256: sha256(testBytes(2 * MIB, 2)),
      });
    } finally {
      await h.close();
    }
  });
});

describe("the S3 store's failures in stream mode", () => {
  it("fails with a clear reason when the store goes away mid-upload, aborts, and a retry works", async () => {
    const h = await startArtifactHarness({ s3, s3Store: { maxBytes: 64 * MIB } });
    try {
      const before = await s3.objectKeys();
      // Slow enough that the store vanishes while parts are being uploaded.
      h.fake = { body: testBytes(20 * MIB, 9), delayMs: 2, onChunk: (i) => i === 120 && s3.goAway() };
      const failed = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
      expect(failed.status).toBe("failed");
      expect(failed.error.code).toBe("KH_ARTIFACT_STORE_FAILED");
      s3.comeBack();
      expect(await s3.objectKeys()).toEqual(before);
      h.fake = { body: testBytes(6 * MIB, 9) };
      const retried = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
      expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
    } finally {
      s3.comeBack();
      await h.close();
    }
  });

  it("fails with 'refused the credentials' on wrong credentials, storing nothing", async () => {
    const h = await startArtifactHarness({
      s3,
      s3Credentials: { accessKeyId: "WRONG", secretAccessKey: "WRONG" },
    });
    try {
      const before = await s3.objectKeys();
      const failed = await h.run("bytes", { size: 6 * MIB }, "stream", REAL_AGENT);
      expect(failed.status).toBe("failed");
      expect(failed.error.code).toBe("KH_ARTIFACT_STORE_FAILED");
      expect(failed.error.message).toMatch(/refused the credentials \(InvalidAccessKeyId\)/);
      expect(await s3.objectKeys()).toEqual(before);
    } finally {
      await h.close();
    }
  });
});

describe("presigned URLs are scoped to one object and expire", () => {
  async function directUpload(expiresInSeconds: number) {
    const h = await startArtifactHarness({ s3, s3Store: { maxBytes: 12 * MIB } });
    const direct = h.controller.artifactStore.direct!;
    const upload = await direct.create(`scoped/${Date.now()}`, {
      contentType: "application/octet-stream",
      expiresInSeconds,
      signingDate: new Date(),
    });
    const output: S3Output = {
      mode: "s3",
      url: upload.url,
      partSize: upload.partSize,
      parts: upload.signatures.map((signature, i) => ({ partNumber: i + 1, signature })),
    };
    return { h, direct, upload, output };
  }

  it("refuses a part URL used for another key, and a signature used for another part", async () => {
    const { h, direct, upload, output } = await directUpload(60);
    try {
      const otherKey = partUrl(output, 1).replace(upload.key, `${upload.key}-other`);
      const refused = await fetch(otherKey, { method: "PUT", body: "x" });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain("SignatureDoesNotMatch");
      const swapped = {
        ...output,
        parts: [output.parts[1]!, output.parts[0]!].map((p, i) => ({ ...p, partNumber: i + 1 })),
      };
      await expect(
        uploadPresigned(Readable.from([Buffer.alloc(10)]), swapped, AbortSignal.timeout(5000)),
      ).rejects.toThrow(/part 1: the store refused it \(HTTP 403 SignatureDoesNotMatch/);
    } finally {
      await direct.abort(upload);
      await h.close();
    }
  });

  it("refuses the URLs after they expire, and the agent's error says so", async () => {
    const { h, direct, upload, output } = await directUpload(1);
    try {
      await new Promise((r) => setTimeout(r, 2100));
      await expect(
        uploadPresigned(Readable.from([Buffer.alloc(10)]), output, AbortSignal.timeout(5000)),
      ).rejects.toThrow(/HTTP 403 AccessDenied: Request has expired/);
    } finally {
      await direct.abort(upload);
      await h.close();
    }
  });

  it("refuses an artifact larger than the presigned parts", async () => {
    const { h, direct, upload, output } = await directUpload(60);
    try {
      const small = { ...output, parts: output.parts.slice(0, 1) };
      await expect(
        uploadPresigned(Readable.from([testBytes(upload.partSize + 1)]), small, AbortSignal.timeout(5000)),
      ).rejects.toThrow(/exceeds the presigned upload's 1 part/);
    } finally {
      await direct.abort(upload);
      await h.close();
    }
  });
});
