/**
 * The local store's own failure (a folder that cannot be written), the s3 mode refused without S3,
 * retention, and `keyhole artifacts get` verifying downloads and refusing a tampered file.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/program.js";
import { type ArtifactHarness, REAL_AGENT, sha256, startArtifactHarness, testBytes } from "./harness.js";

const MIB = 1024 * 1024;
let h: ArtifactHarness;
beforeAll(async () => {
  h = await startArtifactHarness();
});
afterAll(async () => h?.close());

describe("the local store", () => {
  it("fails clearly when the folder cannot be written, and a retry works once it can", async () => {
    const staging = join(h.dataDir, "artifacts", ".staging");
    await rm(staging, { recursive: true });
    await writeFile(staging, "not a folder");
    const failed = await h.run("bytes", { size: MIB }, "stream");
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ code: "KH_ARTIFACT_STORE_FAILED" });
    expect(failed.error.message).toMatch(/cannot create a staging file: ENOTDIR/);
    await rm(staging);
    await import("node:fs/promises").then((fs) => fs.mkdir(staging, { mode: 0o700 }));
    const retried = await h.run("bytes", { size: MIB }, "stream");
    expect(retried.status, JSON.stringify(retried.error)).toBe("completed");
  });

  it("refuses output s3 when there is no S3 store, before anything is dispatched", async () => {
    const answer = await h.call("POST", "/v1/requests", {
      action: "bytes",
      target: REAL_AGENT,
      params: { size: 1 },
      reason: "INC-5",
      output: "s3",
    });
    expect(answer.status).toBe(409);
    expect(answer.json.error.code).toBe("KH_OUTPUT_UNSUPPORTED");
  });
});

describe("retention", () => {
  it("deletes artifacts past the environment's artifactRetentionDays, audits it, and answers 410 after", async () => {
    const request = await h.run("bytes", { size: 1000 }, "stream");
    // Where the file is: the controller's record (the API never shows a server path).
    const { location, sha256: digest } = (await h.controller.store.getArtifact(request.artifactId))!;
    expect(await h.controller.artifacts.sweepExpired()).toBe(0);
    h.advance(25 * 3600 * 1000); // the test policy keeps artifacts one day
    expect(await h.controller.artifacts.sweepExpired()).toBeGreaterThanOrEqual(1);
    await expect(stat(location)).rejects.toThrow(/ENOENT/);
    const after = await h.call("GET", `/v1/artifacts/${request.artifactId}`);
    expect(after.json.artifact.deletedAt).toBeDefined();
    const gone = await h.call("GET", `/v1/artifacts/${request.artifactId}/content`);
    expect(gone.status).toBe(410);
    expect(gone.json.error.code).toBe("KH_ARTIFACT_GONE");
    const deleted = (await h.controller.store.listAudit()).find(
      (r) => r.event === "artifact.deleted" && r.requestId === request.id,
    );
    expect(deleted?.details).toMatchObject({
      artifactId: request.artifactId,
      sha256: digest,
      retentionDays: 1,
    });
    expect(await h.controller.artifacts.sweepExpired()).toBe(0);
    h.advance(-25 * 3600 * 1000); // agents refuse envelopes from the future
  });
});

describe("keyhole artifacts get / ls", () => {
  let url: string;
  let out: string;
  beforeAll(async () => {
    // A fresh clock offset does not matter here; the CLI needs a real socket.
    url = await h.controller.app.listen({ host: "127.0.0.1", port: 0 });
    out = await mkdtemp(join(tmpdir(), "keyhole-get-"));
  });
  afterAll(async () => rm(out, { recursive: true, force: true }));

  async function cli(args: string[]) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const outSpy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      stdout.push(String(chunk));
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
    try {
      const code = await main(args, { KEYHOLE_URL: url, KEYHOLE_TOKEN: h.token });
      return { code, stdout: stdout.join(""), stderr: stderr.join("") };
    } finally {
      outSpy.mockRestore();
      errSpy.mockRestore();
    }
  }

  it("downloads, verifies and writes the file; --json prints the record and no progress bar", async () => {
    const request = await h.run("bytes", { size: 3 * MIB, seed: 21 }, "stream");
    const file = join(out, "a.bin");
    const result = await cli(["artifacts", "get", request.artifactId, "-o", file, "--json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      verified: true,
      file,
      artifact: { id: request.artifactId },
    });
    expect(result.stderr).toBe(""); // no progress bar when not a terminal or with --json
    expect(sha256(await readFile(file))).toBe(sha256(testBytes(3 * MIB, 21)));

    const listed = await cli(["artifacts", "ls", "--json"]);
    expect(JSON.parse(listed.stdout).artifacts.map((a: { id: string }) => a.id)).toContain(
      request.artifactId,
    );
  });

  it("fails loudly on a tampered artifact and keeps no file", async () => {
    const request = await h.run("bytes", { size: 2 * MIB, seed: 22 }, "stream");
    const { location } = (await h.controller.store.getArtifact(request.artifactId))!;
    const tampered = await readFile(location);
    tampered[12345] = (tampered[12345] ?? 0) ^ 0xff;
    await writeFile(location, tampered);
    const file = join(out, "tampered.bin");
    const result = await cli(["artifacts", "get", request.artifactId, "-o", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED verification/);
    expect(await readdir(out)).not.toContain("tampered.bin");
    expect((await readdir(out)).filter((f) => f.endsWith(".part"))).toEqual([]);
  });
});
