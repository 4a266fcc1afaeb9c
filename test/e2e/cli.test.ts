/**
 * End to end with real processes on loopback: a sample workload, two agents (staging and
 * production) and a controller, all started through the real `keyhole` executable, and driven
 * by it as operators would.
 */
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Stack } from "../helpers/stack.js";

const SECRET = `e2e-${randomBytes(16).toString("hex")}`;
const stack = new Stack("e2e");

const as = (who: string) => stack.as(who);
const keyhole = (args: string[], env: Record<string, string | undefined> = {}) => stack.keyhole(args, env);

async function jsonOf(args: string[], who: string) {
  const result = await keyhole([...args, "--json"], as(who));
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

beforeAll(async () => {
  await stack.start({
    workload: { NODE_ENV: "production", DEMO_API_KEY: SECRET },
    agents: ["staging", "production"].map((environment) => ({
      id: `${environment}/shop/shop-0`,
      environment,
      // net-connections stays off, so the agent's own refusal can be seen end to end.
      actions: ["process-info", "env", "log-tail"],
      // Flags may also come from KEYHOLE_* variables: exercise that path here.
      viaEnv: ["id", "environment", "trustedKeys", "actions"],
    })),
    policy: [
      "environments:",
      "  production: { approvals: 1, maxTtlSeconds: 120 }",
      "  staging: { approvals: 0 }",
      "roles:",
      '  sre: { actions: ["*"] }',
      "  support: { actions: [process-info] }",
      "bindings:",
      '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
      '  - { subjects: ["user:carol@example.com"], role: support, environments: [staging] }',
      "",
    ].join("\n"),
    tokens: {
      alice: { subject: "user:alice@example.com", groups: ["sre"] },
      bob: { subject: "user:bob@example.com", groups: ["sre"] },
      carol: { subject: "user:carol@example.com", groups: ["support"] },
    },
    controller: {},
  });
}, 60_000);

afterAll(async () => {
  // Graceful SIGTERM shutdown exits 0 for every keyhole service and the workload.
  expect(await stack.stop()).toEqual([0, 0, 0, 0]);
});

describe("keyhole end to end", () => {
  it("keys generate wrote a 0600 PKCS#8 key and a public JWKS", async () => {
    const key = stack.path("keys", "staging", "signing-key.pem");
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    expect(await readFile(key, "utf8")).toContain("BEGIN PRIVATE KEY");
    const jwks = JSON.parse(await readFile(stack.path("keys", "staging", "jwks.json"), "utf8"));
    expect(jwks.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it("run process-info --wait on staging completes without approval", async () => {
    const { request } = await jsonOf(
      ["run", "process-info", "--target", "staging/shop/shop-0", "--reason", "e2e: memory", "--wait"],
      "alice",
    );
    expect(request.status).toBe("completed");
    expect(request.result.result.pid).toBe(stack.workload!.pid);
    expect(request.result.result.threads).toBeGreaterThan(1);
  });

  it("run env --wait prints the environment with the secret masked", async () => {
    const result = await keyhole(
      ["run", "env", "--target", "staging/shop/shop-0", "--reason", "e2e: config", "--wait"],
      as("alice"),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/DEMO_API_KEY=⟦masked:/);
    expect(result.stdout).toContain("NODE_ENV=production");
    expect(result.stdout).not.toContain(SECRET);

    // What was masked is on record, counted per rule, never the value.
    const exported = stack.path("audit-after-env.jsonl");
    const exportRun = await keyhole(["audit", "export", "--out", exported, "--data-dir", stack.dir]);
    expect(exportRun.code, exportRun.stderr).toBe(0);
    const text = await readFile(exported, "utf8");
    expect(text).not.toContain(SECRET);
    const completed = text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .filter((r) => r.event === "request.completed");
    const masked = completed.at(-1)?.details?.masked as Record<string, number> | undefined;
    expect(masked?.["secret-name"]).toBeGreaterThanOrEqual(1);
  });

  it("production: self-approval is refused, a second person's approval runs it", async () => {
    const { request } = await jsonOf(
      ["run", "env", "--target", "production/shop/shop-0", "--reason", "e2e: drift", "--ticket", "INC-42"],
      "alice",
    );
    expect(request.status).toBe("pending");
    expect(request.approvalsRequired).toBe(1);

    const self = await keyhole(["approve", request.id], as("alice"));
    expect(self.code).toBe(1);
    expect(self.stderr).toContain("KH_SELF_APPROVAL");
    expect(self.stderr.trim().split("\n")).toHaveLength(1);

    // carol may not run env in production, so she may not see the request either: it "does not exist".
    const unentitled = await keyhole(["approve", request.id], as("carol"));
    expect(unentitled.code).toBe(1);
    expect(unentitled.stderr).toContain("KH_NOT_FOUND");

    const approved = await keyhole(["approve", request.id, "--note", "ok for INC-42"], as("bob"));
    expect(approved.code, approved.stderr).toBe(0);

    const done = await jsonOf(["status", request.id, "--wait"], "alice");
    expect(done.request.status).toBe("completed");
    expect(done.request.approvals.map((a: { subject: string }) => a.subject)).toEqual([
      "user:bob@example.com",
    ]);
    expect(JSON.stringify(done)).not.toContain(SECRET);
  });

  it("a denied request ends the requester's wait with exit 1 and the reason", async () => {
    const { request } = await jsonOf(
      ["run", "process-info", "--target", "production/shop/shop-0", "--reason", "e2e: deny me"],
      "alice",
    );
    const denied = await keyhole(["deny", request.id, "--reason", "not during the freeze"], as("bob"));
    expect(denied.code, denied.stderr).toBe(0);
    const waited = await keyhole(["status", request.id, "--wait"], as("alice"));
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain("not during the freeze");
  });

  it("policy refuses what no binding allows, and the agent refuses what it does not run", async () => {
    const refused = await keyhole(
      ["run", "env", "--target", "staging/shop/shop-0", "--reason", "e2e: no"],
      as("carol"),
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("KH_POLICY_DENIED");

    const agentRefusal = await keyhole(
      ["run", "net-connections", "--target", "staging/shop/shop-0", "--reason", "e2e: not enabled", "--wait"],
      as("alice"),
    );
    expect(agentRefusal.code).toBe(1);
    expect(agentRefusal.stderr).toContain("KH_ACTION_DISABLED");
  });

  it("requests lists them, --status filters, --json is parseable", async () => {
    const all = await jsonOf(["requests"], "alice");
    expect(all.requests.length).toBeGreaterThanOrEqual(5);
    const denied = await jsonOf(["requests", "--status", "denied"], "alice");
    expect(denied.requests.every((r: { status: string }) => r.status === "denied")).toBe(true);
    const table = await keyhole(["requests"], as("alice"));
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+STATUS\s+ACTION/);
  });

  it("usage errors exit 2 with one line; --help exits 0 on every command", async () => {
    // Every command at once (each is a process of its own), then checked in order.
    const usageErrors = [
      ["run", "env", "--target", "x"],
      ["bogus"],
      ["requests", "--status", "weird"],
      ["run", "env", "--target", "x", "--reason", "r", "--param", "nokey"],
    ];
    const helped = [
      [],
      ["run"],
      ["approve"],
      ["deny"],
      ["requests"],
      ["status"],
      ["token"],
      ["token", "issue"],
      ["token", "revoke"],
      ["keys", "generate"],
      ["agent"],
      ["controller"],
      ["demo"],
    ];
    const [errors, helps] = await Promise.all([
      Promise.all(usageErrors.map((args) => keyhole(args, as("alice")))),
      Promise.all(helped.map((command) => keyhole([...command, "--help"]))),
    ]);
    for (const [i, args] of usageErrors.entries()) {
      const result = errors[i]!;
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
    }
    for (const [i, command] of helped.entries()) {
      const result = helps[i]!;
      expect({ command, code: result.code }).toEqual({ command, code: 0 });
      expect(result.stdout).toContain("Usage: keyhole");
    }
  });

  it("an unreachable controller is a clear one-line failure", async () => {
    const result = await keyhole(["requests"], { ...as("alice"), KEYHOLE_URL: "http://127.0.0.1:9" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the controller at http:\/\/127\.0\.0\.1:9/);
  });

  it("a revoked token stops working", async () => {
    const revoked = await keyhole(["token", "revoke", stack.tokens.carol!.id, "--data-dir", stack.dir]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await keyhole(["requests"], as("carol"));
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("KH_UNAUTHENTICATED");
  });
});
