/**
 * Artifacts end to end through the real `keyhole` executable: a sample workload, an agent and a
 * controller started as real processes, the controller configured with the `--s3-*` flags (and the
 * credentials from the standard AWS chain, here AWS_* variables) to store into a real s3rver on
 * loopback; `keyhole run --output inline|stream|s3` and `keyhole artifacts get` as an operator runs them.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from "../../helpers/s3rver.js";
import { controllerArgs, Stack } from "../../helpers/stack.js";
import { sha256 } from "./harness.js";

const AGENT = "staging/shop/shop-0";
const BUNDLE = ["--param", 'actions=[{"action":"process-info"}]'];

const stack = new Stack("artifacts-cli");
let s3: TestS3;

const keyhole = (args: string[], env: Record<string, string | undefined> = stack.as("alice")) =>
  stack.keyhole(args, env);

beforeAll(async () => {
  s3 = await startS3();
  stack.onStop(() => s3.close());
  await stack.start({
    workload: {},
    agents: [{ id: AGENT, environment: "staging" }],
    policy:
      'environments:\n  staging: { approvals: 0, artifactRetentionDays: 7 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n',
    tokens: { alice: { subject: "user:alice@example.com", groups: ["sre"] } },
    controller: {
      flags: [
        "--s3-bucket",
        s3.bucket,
        "--s3-prefix",
        "cli-e2e/",
        "--s3-endpoint",
        s3.endpoint,
        "--s3-force-path-style",
        "--s3-region",
        "us-east-1",
        "--s3-part-size-mib",
        "5",
        "--artifact-max-mib",
        "64",
      ],
      // The standard AWS chain: the controller never takes credentials on its command line.
      env: {
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      },
    },
  });
}, 60_000);

afterAll(async () => {
  expect(await stack.stop()).toEqual([0, 0, 0]);
});

describe("keyhole run --output, against a controller started with --s3-* flags", () => {
  it("--output stream stores the bundle in the bucket under --s3-prefix; --json names the artifact", async () => {
    const run = await keyhole([
      "run",
      "bundle",
      "--target",
      AGENT,
      ...BUNDLE,
      "--reason",
      "INC-5 e2e",
      "--output",
      "stream",
      "--wait",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const { request, artifactId } = JSON.parse(run.stdout);
    expect(request).toMatchObject({ status: "completed", output: "stream", artifactId });
    expect(artifactId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await s3.objectKeys()).toContain(`cli-e2e/staging/${request.id}/${artifactId}`);
    expect(await s3.openUploads()).toEqual([]);
  });

  it("--output s3: the agent uploads with presigned URLs; the hint's command downloads it verified", async () => {
    const run = await keyhole([
      "run",
      "bundle",
      "--target",
      AGENT,
      ...BUNDLE,
      "--reason",
      "INC-5 e2e",
      "--output",
      "s3",
      "--wait",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const hint = /download: keyhole artifacts get ([0-9a-f-]{36})/.exec(run.stdout);
    expect(hint, run.stdout).not.toBeNull();
    const id = hint![1]!;
    expect(s3.requests.some((r) => r.startsWith("PUT") && r.includes("X-Amz-Signature"))).toBe(true);

    const file = stack.path("bundle.tar");
    const got = await keyhole(["artifacts", "get", id, "-o", file, "--json"]);
    expect(got.code, got.stderr).toBe(0);
    const { verified, artifact } = JSON.parse(got.stdout);
    expect(verified).toBe(true);
    expect(artifact).toMatchObject({ id, store: "s3", action: "bundle", agent: AGENT });
    // Where it is stored is the controller's business: the API shows no bucket or key.
    expect(artifact).not.toHaveProperty("location");
    expect((await s3.objectKeys()).some((k) => k.startsWith("cli-e2e/staging/") && k.endsWith(id))).toBe(
      true,
    );
    expect(sha256(await readFile(file))).toBe(artifact.sha256);

    // Issue 21: the agent's signature over the request's jti and these bytes, checked by the CLI
    // with the agent's public key as its start-up log printed it, and with the controller's.
    const agentKey = stack.agent(AGENT).lines.find((l) => l.msg === "identity key loaded")?.publicKey;
    expect(typeof agentKey).toBe("string");
    const keyFile = stack.write("agent-key.txt", `${agentKey}\n`);
    const verified2 = await keyhole(["artifacts", "verify", id, "--agent-key", keyFile, "--json"]);
    expect(verified2.code, verified2.stderr).toBe(0);
    expect(JSON.parse(verified2.stdout)).toMatchObject({
      verified: true,
      keySource: "file",
      statement: { agent: AGENT, kind: "s3", sha256: artifact.sha256, bytes: artifact.size },
    });
    const byController = await keyhole(["artifacts", "verify", id, "--file", file]);
    expect(byController.code, byController.stderr).toBe(0);
    expect(byController.stdout).toMatch(/verified/);
    expect(byController.stderr).toMatch(/key the controller pinned/);
    // Another key, or other bytes: exit 1 with the reason on one line.
    const otherKey = stack.write("other-key.txt", "A".repeat(43));
    const wrongKey = await keyhole(["artifacts", "verify", id, "--agent-key", otherKey, "--json"]);
    expect([wrongKey.code, wrongKey.stderr.trim()]).toEqual([
      1,
      expect.stringMatching(/FAILED verification.*does not verify/),
    ]);
    expect(JSON.parse(wrongKey.stdout).error.code).toBe("KH_AGENT_UNVERIFIED");
    const tampered = stack.write("tampered.tar", "not the bundle");
    const wrongBytes = await keyhole(["artifacts", "verify", id, "--file", tampered, "--agent-key", keyFile]);
    expect([wrongBytes.code, wrongBytes.stderr]).toEqual([1, expect.stringMatching(/sha256/)]);
    const badKey = await keyhole(["artifacts", "verify", id, "--agent-key", tampered]);
    expect(badKey.code).toBe(2);
  });

  it("inline stays the default: a JSON result, no artifact", async () => {
    const run = await keyhole([
      "run",
      "process-info",
      "--target",
      AGENT,
      "--reason",
      "INC-5 e2e",
      "--wait",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const parsed = JSON.parse(run.stdout);
    expect(parsed.request).toMatchObject({ status: "completed", output: "inline" });
    expect(parsed.artifactId).toBeUndefined();
    expect(parsed.request.result.result.pid).toBe(stack.workload!.pid);
  });

  it("refuses an unknown --output with a one-line usage error (exit 2), asking nothing", async () => {
    const before = await keyhole(["requests", "--json"]);
    const run = await keyhole([
      "run",
      "process-info",
      "--target",
      AGENT,
      "--reason",
      "INC-5 e2e",
      "--output",
      "disk",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toMatch(/--output must be one of inline, stream, s3/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    const after = await keyhole(["requests", "--json"]);
    expect(JSON.parse(after.stdout).requests.length).toBe(JSON.parse(before.stdout).requests.length);
  });

  it("a controller with contradictory S3 flags does not start (exit 2, every problem listed)", async () => {
    const bad = await keyhole(
      controllerArgs({
        dataDir: stack.path("bad"),
        flags: ["--s3-prefix", "x/", "--s3-sse-kms-key-id", "k"],
      }),
      {},
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--s3-prefix (KEYHOLE_S3_PREFIX): needs --s3-bucket");
    expect(bad.stderr).toContain("--s3-sse-kms-key-id");
    const timeout = await keyhole(
      controllerArgs({ dataDir: stack.path("bad"), flags: ["--dispatch-timeout-seconds", "0"] }),
      {},
    );
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain("--dispatch-timeout-seconds (KEYHOLE_DISPATCH_TIMEOUT_SECONDS)");
  });
});
