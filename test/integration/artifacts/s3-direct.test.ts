/**
 * The s3 output mode (the agent uploads with presigned URLs; no credentials in the agent) and the S3
 * store's failure paths, against a real s3rver on loopback behind a SigV4-checking proxy.
 */

import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { partUrl, uploadPresigned } from "../../../agent/bundle/s3-presigned.js";
import type { S3Output } from "../../../protocol/request.js";
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
    const { location } = (await h.controller.store.getArtifact(request.artifactId))!;
    expect(await s3.objectKeys()).toContain(location.replace(`s3://${s3.bucket}/`, ""));
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

  it("refuses an s3 request for an action that cannot stream (inline-only) when it is filed", async () => {
    const refused = await h.call("POST", "/v1/requests", {
      action: "process-info",
      target: REAL_AGENT,
      reason: "INC-5 artifacts",
      output: "s3",
    });
    expect([refused.status, refused.json.error.code]).toEqual([400, "KH_BAD_PARAMS"]);
    expect(refused.json.error.message).toContain("process-info answers with output mode inline, not s3");
    expect(await s3.openUploads()).toEqual([]);
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

describe("the s3 mode's failures: nothing registered, nothing left, and a retry works", () => {
  let h: ArtifactHarness;
  beforeAll(async () => {
    h = await startArtifactHarness({ s3, s3Store: { maxBytes: 32 * MIB } });
  });
  afterAll(async () => h?.close());
  afterEach(() => s3.comeBack());

  async function expectNothingRegistered(request: { id: string; artifactId?: string }) {
    expect(request.artifactId).toBeUndefined();
    const audit = await h.controller.store.listAudit();
    expect(audit.some((r) => r.event === "artifact.stored" && r.requestId === request.id)).toBe(false);
  }

  it("an agent that lies about the digest: the completed object is deleted, the request fails", async () => {
    const before = await s3.objectKeys();
    const uploads = await s3.openUploads();
    const body = testBytes(7 * MIB, 31);
    h.fake = { body, lie: "f".repeat(64) };
    const failed = await h.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_ARTIFACT_DIGEST_MISMATCH");
    expect(failed.error.message).toContain(`hash to ${sha256(body)}`);
    await expectNothingRegistered(failed);
    expect(await s3.objectKeys()).toEqual(before);
    expect(await s3.openUploads()).toEqual(uploads);

    h.fake = { body };
    const retried = await h.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
    expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
    expect((await h.call("GET", `/v1/artifacts/${retried.artifactId}`)).json.artifact.sha256).toBe(
      sha256(body),
    );
  });

  it("an agent that reports the wrong size: refused before any read-back, object deleted", async () => {
    const before = await s3.objectKeys();
    const body = testBytes(2 * MIB, 32);
    h.fake = { body, reportBytes: body.length - 1 };
    const failed = await h.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_ARTIFACT_DIGEST_MISMATCH");
    expect(failed.error.message).toBe(
      `the store holds ${body.length} bytes but the agent reported ${body.length - 1}`,
    );
    await expectNothingRegistered(failed);
    expect(await s3.objectKeys()).toEqual(before);
  });

  it("an agent gone mid-upload (parts sent, no report): the multipart upload is aborted", async () => {
    const before = await s3.objectKeys();
    const uploads = await s3.openUploads();
    h.fake = { body: testBytes(12 * MIB, 33), cutAfter: 6 * MIB };
    const failed = await h.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toMatch(/^KH_AGENT_/);
    await expectNothingRegistered(failed);
    // Two parts reached S3 before the agent vanished; the controller aborted the upload.
    expect(
      s3.requests.filter((r) => r.startsWith("DELETE") && r.includes("uploadId=")).length,
    ).toBeGreaterThan(0);
    expect(await s3.openUploads()).toEqual(uploads);
    expect(await s3.objectKeys()).toEqual(before);
  });

  it("S3 going away while the real agent uploads: a clear reason from the agent, and a retry works", async () => {
    const before = await s3.objectKeys();
    const seen = s3.requests.length;
    // Cut S3 off as soon as the agent's first part PUT arrives: the parts in flight and the rest fail.
    let watching = true;
    const watch = (async () => {
      while (watching) {
        if (s3.requests.slice(seen).some((r) => r.startsWith("PUT") && r.includes("X-Amz-Signature"))) {
          s3.goAway();
          return;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const failed = await h.run("bytes", { size: 12 * MIB, seed: 34 }, "s3");
    watching = false;
    await watch;
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_ACTION_FAILED");
    expect(failed.error.message).toMatch(/uploading part \d+: the store is unreachable/);
    await expectNothingRegistered(failed);
    s3.comeBack();
    expect(await s3.objectKeys()).toEqual(before);
    const retried = await h.run("bytes", { size: 12 * MIB, seed: 34 }, "s3");
    expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
  });

  it("wrong credentials: the upload cannot even be created; the reason says so", async () => {
    const wrong = await startArtifactHarness({
      s3,
      s3Credentials: { accessKeyId: "WRONG", secretAccessKey: "WRONG" },
    });
    try {
      const uploads = await s3.openUploads();
      const failed = await wrong.run("bytes", { size: MIB }, "s3");
      expect(failed.status).toBe("failed");
      expect(failed.error.code).toBe("KH_ARTIFACT_STORE_FAILED");
      expect(failed.error.message).toMatch(/refused the credentials \(InvalidAccessKeyId\)/);
      expect(failed.artifactId).toBeUndefined();
      expect(await s3.openUploads()).toEqual(uploads);
    } finally {
      await wrong.close();
    }
  });
});
