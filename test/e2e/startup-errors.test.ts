/** Bad configuration stops a service at once with exit 2 and every problem listed, naming where. */
import { createPrivateKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, expect, it } from "vitest";
import { agentArgs, controllerArgs, Stack } from "../helpers/stack.js";

const stack = new Stack("startup");
afterAll(() => stack.stop());

it("a policy with errors: exit 2, each problem with file:line:col", async () => {
  const policy = stack.write(
    "policy.yaml",
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
  const result = await stack.keyhole(controllerArgs({ dataDir: stack.path("data"), policy }));
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`${policy}:2:31 environments.production.maxTtl: unknown key "maxTtl"`);
  expect(result.stderr).toContain(`${policy}:6:38 bindings[0].role: unknown role "sreX"`);
  expect(result.stderr).toContain('unknown environment "prod"');
});

it("an agent without its required flags: exit 2, each flag and its variable named", async () => {
  const result = await stack.keyhole(["agent"]);
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
  const keys = await stack.keys("staging");
  const pem = await readFile(keys.signingKey, "utf8");
  const jwk = { ...createPrivateKey(pem).export({ format: "jwk" }), kid: "leaked" };
  const trustedKeys = stack.write("bad-jwks.json", JSON.stringify({ keys: [jwk] }));
  const result = await stack.keyhole(agentArgs({ id: "a/b", environment: "staging", trustedKeys }));
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain("a private key must never be in the agent's trusted keys");
});
