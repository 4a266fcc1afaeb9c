/** Bad configuration stops a service at once with exit 2 and every problem listed, naming where. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runKeyhole } from "../../cli/demo/processes.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-startup-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const env = () => ({ PATH: process.env.PATH });

it("a policy with errors: exit 2, each problem with file:line:col", async () => {
  const policy = join(dir, "policy.yaml");
  await writeFile(
    policy,
    [
      "environments:",
      "  production: { approvals: 1, maxTtl: 120 }",
      "roles:",
      '  sre: { actions: ["*"] }',
      "bindings:",
      '  - { subjects: ["group:sre"], role: sreX, environments: [prod] }',
      "",
    ].join("\n"),
  );
  const result = await runKeyhole(["controller", "--data-dir", join(dir, "data"), "--policy", policy], env());
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`${policy}:2:31 environments.production.maxTtl: unknown key "maxTtl"`);
  expect(result.stderr).toContain(`${policy}:6:38 bindings[0].role: unknown role "sreX"`);
  expect(result.stderr).toContain('unknown environment "prod"');
});

it("an agent without its required flags: exit 2, each flag and its variable named", async () => {
  const result = await runKeyhole(["agent"], env());
  expect(result.code).toBe(2);
  for (const flag of [
    "--id (KEYHOLE_ID): is required",
    "--environment (KEYHOLE_ENVIRONMENT)",
    "--trusted-keys (KEYHOLE_TRUSTED_KEYS)",
  ]) {
    expect(result.stderr).toContain(flag);
  }
});

it("an agent whose trusted keys hold a private key refuses to start", async () => {
  const keys = join(dir, "keys");
  expect((await runKeyhole(["keys", "generate", "--out", keys, "--json"], env())).code).toBe(0);
  const { readFile } = await import("node:fs/promises");
  const { createPrivateKey } = await import("node:crypto");
  const pem = await readFile(join(keys, "signing-key.pem"), "utf8");
  const jwk = { ...createPrivateKey(pem).export({ format: "jwk" }), kid: "leaked" };
  await writeFile(join(keys, "bad-jwks.json"), JSON.stringify({ keys: [jwk] }));
  const result = await runKeyhole(
    [
      "agent",
      "--id",
      "a/b",
      "--environment",
      "staging",
      "--trusted-keys",
      join(keys, "bad-jwks.json"),
      "--listen",
      "127.0.0.1:0",
    ],
    env(),
  );
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain("a private key must never be in the agent's trusted keys");
});
