/**
 * Issue 23, finding 2: a presigned UploadPart signed the key, upload and part number but not the
 * length, so an agent holding the URLs stored 20 MiB against a 6 MiB `--artifact-max-mib`; and above
 * 64 MiB the recorded SHA-256 was the agent's claim. Now S3 refuses a full part of any other length
 * than the signed one, the controller deletes an object larger than the limit or not shaped like the
 * presigned parts, and the digest it records is always its own.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partUrl } from "../../../agent/bundle/s3-presigned.js";
import type { S3Output } from "../../../protocol/request.js";
import { startS3, type TestS3 } from "../../helpers/s3rver.js";
import { type ArtifactHarness, FAKE_AGENT, sha256, startArtifactHarness, testBytes } from "./harness.js";

const MIB = 1024 * 1024;

/** PUTs `body` to `url` as a hostile agent would (no sink, no part-size rules); resolves status and ETag. */
function put(url: string, body: Buffer): Promise<{ status: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "PUT", headers: { "content-length": body.length } }, (res) => {
      res.resume();
      res.once("end", () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag }));
    });
    req.once("error", reject);
    req.end(body);
  });
}

/** The URL of the last part: the tail where there is one, else part 1 (the code before the fix). */
function lastPartUrl(output: S3Output): { partNumber: number; url: string } {
  return output.tail ?? { partNumber: 1, url: partUrl(output, 1) };
}

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.close();
});

describe("issue 23 finding 2: presigned S3 parts have no size bound", () => {
  let h: ArtifactHarness;
  beforeAll(async () => {
    // The reviewed set-up: 5 MiB parts, a 6 MiB limit.
    h = await startArtifactHarness({ s3, s3Store: { maxBytes: 6 * MIB, partSizeBytes: 5 * MIB } });
  });
  afterAll(async () => h?.close());

  async function expectNothingStored(request: { id: string; artifactId?: string }, keysBefore: string[]) {
    expect(request.artifactId).toBeUndefined();
    const audit = await h.controller.store.listAudit();
    expect(audit.some((r) => r.event === "artifact.stored" && r.requestId === request.id)).toBe(false);
    expect(await s3.objectKeys()).toEqual(keysBefore);
    expect(await h.controller.store.listArtifacts({ limit: 100 })).toEqual([]);
  }

  it("S3 refuses a full part longer than the signed part size", async () => {
    const before = await s3.objectKeys();
    const big = testBytes(20 * MIB, 41);
    let answer: { status: number; etag: string | undefined } | undefined;
    h.fake = {
      body: big,
      s3Upload: async (output) => {
        answer = await put(partUrl(output, 1), big);
        return answer.etag ? [{ partNumber: 1, etag: answer.etag }] : [];
      },
    };
    const request = await h.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
    expect(answer?.status).toBe(403);
    expect(request.status).toBe("failed");
    await expectNothingStored(request, before);
  });

  it("the controller deletes an object whose last part outgrows --artifact-max-mib", async () => {
    const before = await s3.objectKeys();
    const uploads = await s3.openUploads();
    const big = testBytes(20 * MIB, 42);
    h.fake = {
      body: big,
      s3Upload: async (output) => {
        const last = lastPartUrl(output);
        const { status, etag } = await put(last.url, big);
        expect(status).toBe(200); // the tail's length cannot be signed: the controller must check it
        return [{ partNumber: last.partNumber, etag: etag! }];
      },
    };
    const request = await h.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
    expect(request.status).toBe("failed");
    expect(request.error.code).toBe("KH_ARTIFACT_TOO_LARGE");
    expect(request.error.message).toContain(`holds ${20 * MIB} bytes, above the ${6 * MIB}-byte limit`);
    await expectNothingStored(request, before);
    expect(await s3.openUploads()).toEqual(uploads);
  });

  it("the controller deletes an object not shaped like the presigned parts (a last part of a full part's size or more)", async () => {
    const wide = await startArtifactHarness({ s3, s3Store: { maxBytes: 32 * MIB, partSizeBytes: 5 * MIB } });
    try {
      const before = await s3.objectKeys();
      const body = testBytes(7 * MIB, 43);
      wide.fake = {
        body,
        s3Upload: async (output) => {
          const last = lastPartUrl(output);
          const { etag } = await put(last.url, body);
          return [{ partNumber: last.partNumber, etag: etag! }];
        },
      };
      const request = await wide.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
      expect(request.status).toBe("failed");
      expect(request.error.code).toBe("KH_AGENT_BAD_RESPONSE");
      expect(request.artifactId).toBeUndefined();
      expect(await s3.objectKeys()).toEqual(before);
    } finally {
      await wide.close();
    }
  });

  it("records the controller's own digest above 64 MiB: an agent's false digest is refused, never recorded", async () => {
    const large = await startArtifactHarness({ s3, s3Store: { maxBytes: 80 * MIB, partSizeBytes: 8 * MIB } });
    try {
      const before = await s3.objectKeys();
      const body = testBytes(65 * MIB, 44);
      large.fake = { body, lie: "e".repeat(64) };
      const lied = await large.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
      expect(lied.status).toBe("failed");
      expect(lied.error.code).toBe("KH_ARTIFACT_DIGEST_MISMATCH");
      expect(lied.error.message).toContain(`hash to ${sha256(body)}`);
      expect(await s3.objectKeys()).toEqual(before);

      large.fake = { body };
      const honest = await large.run("bytes", { size: 1 }, "s3", FAKE_AGENT);
      expect(honest.status, JSON.stringify(honest.error)).toBe("completed");
      const { json } = await large.call("GET", `/v1/artifacts/${honest.artifactId}`);
      expect(json.artifact).toMatchObject({
        size: 65 * MIB,
        sha256: sha256(body),
        digestSource: "controller",
      });
    } finally {
      await large.close();
    }
    // 130 MiB through S3 and back: seconds alone, more beside other test files on 2 cores.
  }, 90_000);
});
