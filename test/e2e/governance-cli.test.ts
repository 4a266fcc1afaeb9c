/**
 * The governance commands through the real `keyhole` executable: `policy check` and `policy explain`
 * on files, and against a running `keyhole controller` (reloaded with SIGHUP); `run --break-glass`,
 * `reviews` and `review close`.
 */
import { readFile, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Stack } from "../helpers/stack.js";

const POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120, breakGlass: true }
  staging: { approvals: 0 }
roles:
  support: { actions: [process-info, env, log-tail, net-connections] }
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support", "user:carol@example.com"], role: support, environments: [staging] }
`;

const stack = new Stack("gov-e2e");
const as = (who: string) => stack.as(who);
const keyhole = (args: string[], env: Record<string, string | undefined> = {}) => stack.keyhole(args, env);

beforeAll(async () => {
  stack.write("policy.yaml", POLICY);
  // Nothing listens at the agents' URLs: these tests are about decisions, not results.
  stack.write(
    "inventory.yaml",
    `- { id: production/shop/shop-0, environment: production, url: "http://127.0.0.1:9" }
- { id: staging/shop/shop-0, environment: staging, url: "http://127.0.0.1:9" }
`,
  );
  const data = stack.path("data");
  await stack.startController({
    dataDir: data,
    policy: stack.path("policy.yaml"),
    inventory: stack.path("inventory.yaml"),
    // Reviews are overdue after ~2 s here, and the sweeper looks every second.
    env: { KEYHOLE_REVIEW_OVERDUE_HOURS: "0.0005", KEYHOLE_SWEEP_INTERVAL_SECONDS: "1" },
  });
  for (const [who, subject, groups] of [
    ["alice", "user:alice@example.com", "sre"],
    ["bob", "user:bob@example.com", "sre"],
  ] as const) {
    await stack.issueToken(who, subject, [groups], ["--data-dir", data]);
  }
});

afterAll(() => stack.stop());

describe("keyhole policy check", () => {
  it("accepts a valid file and summarises it; --json for scripts", async () => {
    const ok = await keyhole([
      "policy",
      "check",
      stack.path("policy.yaml"),
      "--inventory",
      stack.path("inventory.yaml"),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok .*policy\.yaml \(sha256 [0-9a-f]{64}\)/);
    expect(ok.stdout).toContain("production: 1 approval(s), break-glass allowed");
    expect(ok.stdout).toContain("inventory");
    const json = await keyhole(["policy", "check", stack.path("policy.yaml"), "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, roles: 2, bindings: 2 });
  });

  it("fails listing every problem with file:line:col", async () => {
    const bad = stack.path("bad.yaml");
    await writeFile(
      bad,
      POLICY.replace("role: support", "role: suport").replace("approvals: 0", "approvals: -1"),
    );
    const result = await keyhole(["policy", "check", bad]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/bad\.yaml:\d+:\d+ environments\.staging\.approvals: /);
    expect(result.stderr).toMatch(/bad\.yaml:9:\d+ bindings\[1\]\.role: unknown role "suport"/);
    const json = await keyhole(["policy", "check", bad, "--json"]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      valid: false,
      problems: [expect.any(String), expect.any(String)],
    });
    const missing = await keyhole(["policy", "check"]);
    expect(missing.code).toBe(2);
  });
});

describe("keyhole policy explain", () => {
  it("on a file: names the binding and rule, or why nothing allows", async () => {
    const allowed = await keyhole([
      "policy",
      "explain",
      "--policy",
      stack.path("policy.yaml"),
      "--environment",
      "staging",
      "--subject",
      "user:carol@example.com",
      "--action",
      "env",
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout.split("\n")[0]).toBe(
      'ALLOWED: bindings[1] grants role "support" to user:carol@example.com in "staging", which allows "env"; no approval is needed there',
    );
    const denied = await keyhole([
      "policy",
      "explain",
      "--policy",
      stack.path("policy.yaml"),
      "--inventory",
      stack.path("inventory.yaml"),
      "--target",
      "production/shop/shop-0",
      "--subject",
      "user:carol@example.com",
      "--action",
      "env",
      "--json",
    ]);
    expect(denied.code, denied.stderr).toBe(0);
    const { explanation } = JSON.parse(denied.stdout);
    expect(explanation).toMatchObject({ allowed: false, environment: "production" });
    expect(explanation.bindings.map((b: { outcome: string }) => b.outcome)).toEqual([
      "other-subject",
      "other-environment",
    ]);
    const usage = await keyhole([
      "policy",
      "explain",
      "--subject",
      "nobody",
      "--action",
      "env",
      "--target",
      "x",
    ]);
    expect(usage.code).toBe(2);
  });

  it("against the running controller, and again after SIGHUP reloads a changed file", async () => {
    const ask = () =>
      keyhole(
        [
          "policy",
          "explain",
          "--subject",
          "user:carol@example.com",
          "--action",
          "env",
          "--target",
          "production/shop/shop-0",
        ],
        as("alice"),
      );
    const before = await ask();
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/^DENIED: /);
    await writeFile(
      stack.path("policy.yaml"),
      POLICY.replace("environments: [staging] }", "environments: [staging, production] }"),
    );
    stack.controller!.kill("SIGHUP");
    let after = await ask();
    for (let i = 0; i < 50 && !after.stdout.startsWith("ALLOWED"); i++) {
      await sleep(100);
      after = await ask();
    }
    expect(after.stdout).toMatch(/^ALLOWED: bindings\[1\]/);
    expect(await readFile(stack.controller!.logFile!, "utf8")).toMatch(/"msg":"policy loaded"/);
  });
});

describe("keyhole run --break-glass, reviews, review close", () => {
  it("needs a ticket, runs without approval where allowed, and leaves a review someone else closes", async () => {
    const noTicket = await keyhole(
      ["run", "env", "--target", "production/shop/shop-0", "--reason", "INC-9", "--break-glass"],
      as("alice"),
    );
    expect(noTicket.code).toBe(2);
    expect(noTicket.stderr).toContain("--break-glass needs --ticket");

    const forbidden = await keyhole(
      [
        "run",
        "env",
        "--target",
        "staging/shop/shop-0",
        "--reason",
        "INC-9",
        "--ticket",
        "INC-9",
        "--break-glass",
      ],
      as("alice"),
    );
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^keyhole: KH_BREAK_GLASS_FORBIDDEN: /);

    const used = await keyhole(
      [
        "run",
        "env",
        "--target",
        "production/shop/shop-0",
        "--reason",
        "INC-9 outage",
        "--ticket",
        "INC-9",
        "--break-glass",
        "--json",
      ],
      as("alice"),
    );
    expect(used.code, used.stderr).toBe(0);
    expect(JSON.parse(used.stdout).request).toMatchObject({ breakGlass: true, status: "approved" });

    const listed = await keyhole(["reviews", "--json"], as("bob"));
    expect(listed.code, listed.stderr).toBe(0);
    const [review] = JSON.parse(listed.stdout).reviews;
    expect(review).toMatchObject({ subject: "user:alice@example.com", ticket: "INC-9", status: "open" });
    const table = await keyhole(["reviews"], as("bob"));
    expect(table.stdout).toContain(review.id);

    const own = await keyhole(["review", "close", review.id, "--note", "fine"], as("alice"));
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/KH_SELF_REVIEW/);
    const closed = await keyhole(
      ["review", "close", review.id, "--note", "looked at INC-9: justified"],
      as("bob"),
    );
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.stdout).toMatch(/^review .* closed by user:bob@example.com/);
    expect(JSON.parse((await keyhole(["reviews", "--json"], as("bob"))).stdout).reviews).toEqual([]);
  });

  it("reports a review left open past its age: OVERDUE in the table, a WARNING line, a warning in the log", async () => {
    const used = await keyhole(
      [
        "run",
        "env",
        "--target",
        "production/shop/shop-0",
        "--reason",
        "INC-10",
        "--ticket",
        "INC-10",
        "--break-glass",
      ],
      as("bob"),
    );
    expect(used.code, used.stderr).toBe(0);
    expect(used.stderr).toContain("break-glass: sent without approval");
    expect(used.stdout).toMatch(
      /^request \S+ approved: env on production\/shop\/shop-0 \(production, BREAK-GLASS: no approval, review pending\)/,
    );
    await sleep(2500);
    const listed = await keyhole(["reviews"], as("alice"));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toMatch(/^WARNING: 1 break-glass review\(s\) open for more than 2s/);
    expect(listed.stdout).toMatch(/OVERDUE +user:bob@example.com +env/);
    let log = "";
    for (let i = 0; i < 30 && !log.includes("break-glass review overdue"); i++) {
      await sleep(100);
      log = await readFile(stack.controller!.logFile!, "utf8");
    }
    expect(log).toContain('"msg":"break-glass review overdue');
  });
});
