/**
 * The stream output mode through the controller, against both stores: the local folder and S3 (a
 * real s3rver on loopback). The same suite runs on each.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3, type TestS3 } from "../../helpers/s3rver.js";
import { type ArtifactHarness, FAKE_AGENT, sha256, startArtifactHarness, testBytes } from "./harness.js";

const MIB = 1024 * 1024;

describe.each(["local", "s3"] as const)("stream mode with the %s store", (kind) => {
  let s3: TestS3 | undefined;
  let h: ArtifactHarness;

  /** Every stored object: files in the folder (staging excluded), or keys in the bucket. */
  async function storedObjects(): Promise<string[]> {
    if (s3) return s3.objectKeys();
    const root = join(h.dataDir, "artifacts");
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1));
  }
  async function nothingLeftBehind(before: string[]): Promise<void> {
    expect(await storedObjects()).toEqual(before);
    if (s3) expect(await s3.openUploads()).toEqual([]);
    else expect(await readdir(join(h.dataDir, "artifacts", ".staging"))).toEqual([]);
  }

  beforeAll(async () => {
    if (kind === "s3") s3 = await startS3();
    h = await startArtifactHarness({
      ...(s3 ? { s3, s3Store: { maxBytes: 32 * MIB } } : {}),
      config: { artifactMaxMib: 32 },
    });
  });
  afterAll(async () => {
    await h?.close();
    await s3?.close();
  });

  it("stores a bundle from the real agent, registers it, audits it, and serves it back verified", async () => {
    const request = await h.run("bundle", { actions: [{ action: "process-info" }] }, "stream");
    expect(request.status, JSON.stringify(request.error)).toBe("completed");
    expect(request.output).toBe("stream");
    expect(request.artifactId).toMatch(/^[0-9a-f-]{36}$/);

    const { json } = await h.call("GET", `/v1/artifacts/${request.artifactId}`);
    expect(json.artifact).toMatchObject({
      requestId: request.id,
      agent: "staging/shop/real-0",
      action: "bundle",
      contentType: "application/x-tar",
      digestSource: "controller",
      store: kind,
    });
    const content = await h.call("GET", `/v1/artifacts/${request.artifactId}/content`);
    expect(content.status).toBe(200);
    expect(content.raw.length).toBe(json.artifact.size);
    expect(sha256(content.raw)).toBe(json.artifact.sha256);
    expect(content.headers["x-keyhole-sha256"]).toBe(json.artifact.sha256);

    const audit = await h.controller.store.listAudit();
    const stored = audit.find((r) => r.event === "artifact.stored" && r.requestId === request.id);
    expect(stored?.details).toMatchObject({
      artifactId: request.artifactId,
      sha256: json.artifact.sha256,
      size: json.artifact.size,
      location: (await h.controller.store.getArtifact(request.artifactId))!.location,
      agent: "staging/shop/real-0",
    });
    const downloaded = audit.find((r) => r.event === "artifact.downloaded");
    expect(downloaded).toMatchObject({ actor: "user:sre@example.com", requestId: request.id });
    expect(downloaded?.details).toMatchObject({
      artifactId: request.artifactId,
      sha256: json.artifact.sha256,
    });
  });

  it("streams an artifact larger than one part (12 MiB over 5 MiB parts)", async () => {
    const request = await h.run("bytes", { size: 12 * MIB, seed: 7 }, "stream");
    expect(request.status, JSON.stringify(request.error)).toBe("completed");
    const { json } = await h.call("GET", `/v1/artifacts/${request.artifactId}`);
    expect(json.artifact.size).toBe(12 * MIB);
    expect(json.artifact.sha256).toBe(sha256(testBytes(12 * MIB, 7)));
    const content = await h.call("GET", `/v1/artifacts/${request.artifactId}/content`);
    expect(sha256(content.raw)).toBe(json.artifact.sha256);
    if (s3) expect(await s3.openUploads()).toEqual([]);
  });

  it("refuses an agent whose trailer lies: failed, nothing registered or left behind, and a retry works", async () => {
    const before = await storedObjects();
    const body = testBytes(6 * MIB, 3);
    h.fake = { body, lie: "0".repeat(64) };
    const failed = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_ARTIFACT_DIGEST_MISMATCH");
    expect(failed.artifactId).toBeUndefined();
    await nothingLeftBehind(before);

    h.fake = { body };
    const retried = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
    expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
    const { json } = await h.call("GET", `/v1/artifacts/${retried.artifactId}`);
    expect(json.artifact.sha256).toBe(sha256(body));
  });

  it("records the agent's mask counts trailer in the completion's audit record, and ignores a malformed one", async () => {
    const completedDetails = async (requestId: string) =>
      (await h.controller.store.listAudit()).find(
        (r) => r.requestId === requestId && r.event === "request.completed",
      )?.details;
    h.fake = {
      body: testBytes(64 * 1024, 8),
      masked: JSON.stringify({ "secret-name": 2, "high-entropy": 1 }),
    };
    const counted = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
    expect(counted.status, JSON.stringify(counted.error)).toBe("completed");
    expect((await completedDetails(counted.id))?.masked).toEqual({ "secret-name": 2, "high-entropy": 1 });

    for (const masked of [
      "not json",
      JSON.stringify({ "secret-name": -1 }),
      JSON.stringify({ "Bad Rule": 1 }),
    ]) {
      h.fake = { body: testBytes(64 * 1024, 9), masked };
      const request = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
      expect(request.status, JSON.stringify(request.error)).toBe("completed");
      const details = await completedDetails(request.id);
      expect(details).toBeDefined();
      expect(details).not.toHaveProperty("masked");
    }
  });

  it("fails an agent that goes away mid-stream (no trailer), storing nothing", async () => {
    const before = await storedObjects();
    h.fake = { body: testBytes(7 * MIB, 4), cutAfter: 6 * MIB };
    const failed = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_AGENT_STREAM_BROKEN");
    expect(failed.error.message).toMatch(/nothing was stored/);
    await nothingLeftBehind(before);
  });

  it("fails an artifact over the store's limit (a full store), storing nothing", async () => {
    const before = await storedObjects();
    h.fake = { body: testBytes(33 * MIB, 5) };
    const failed = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KH_ARTIFACT_TOO_LARGE");
    await nothingLeftBehind(before);
  });

  it("lists artifacts, and hides them from callers who may not read the request", async () => {
    const { json } = await h.call("GET", "/v1/artifacts");
    expect(json.artifacts.length).toBeGreaterThanOrEqual(3);
    const outsider = await h.tokenFor("user:eve@example.com", []);
    const hidden = await h.call("GET", "/v1/artifacts", undefined, outsider);
    expect(hidden.json.artifacts).toEqual([]);
    const id = json.artifacts[0].id;
    expect((await h.call("GET", `/v1/artifacts/${id}/content`, undefined, outsider)).json.error.code).toBe(
      "KH_NOT_FOUND",
    );
  });
});
