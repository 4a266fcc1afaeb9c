import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../controller/errors.js";
import { DEFAULT_POLICY_YAML } from "../../../controller/policy/default-policy.js";
import { evaluate } from "../../../controller/policy/evaluate.js";
import { loadPolicy, parsePolicy } from "../../../controller/policy/load-policy.js";

const SPEC_POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120, breakGlass: true }
  staging:    { approvals: 0 }
roles:
  support: { actions: [process-info, env, log-tail, net-connections] }
  sre:     { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support", "user:carol@example.com"], role: support, environments: [staging, production] }
`;

function problemsOf(text: string): readonly string[] {
  try {
    parsePolicy(text, "policy.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected the policy to be refused");
}

describe("parsePolicy", () => {
  it("reads the SPEC's example with defaults filled in", () => {
    const policy = parsePolicy(SPEC_POLICY, "policy.yaml");
    expect(policy.environments.get("production")).toEqual({
      approvals: 1,
      maxTtlSeconds: 120,
      breakGlass: true,
      breakGlassCooldownSeconds: 3600,
      pendingTtlSeconds: 3600,
      artifactRetentionDays: 30,
    });
    expect(policy.environments.get("staging")).toEqual({
      approvals: 0,
      maxTtlSeconds: 120,
      breakGlass: false,
      breakGlassCooldownSeconds: 3600,
      pendingTtlSeconds: 3600,
      artifactRetentionDays: 30,
    });
    expect(policy.roles.get("support")?.actions).toEqual([
      "process-info",
      "env",
      "log-tail",
      "net-connections",
    ]);
    expect(policy.bindings).toHaveLength(2);
    expect(policy.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it("names file, line, column and path of an unknown role", () => {
    const text = SPEC_POLICY.replace("role: support", "role: suport");
    expect(problemsOf(text)).toEqual(['policy.yaml:9:68 bindings[1].role: unknown role "suport"']);
  });

  it("lists every problem at once: types, ranges, unknown keys, unknown environments, bad subjects", () => {
    const text = `environments:
  production: { approvals: "one", maxTtlSeconds: 900 }
  Staging: {}
roles:
  sre: { actions: ["*"], extra: 1 }
bindings:
  - { subjects: ["team:sre"], role: sre, environments: [prod] }
  - subjects: ["group:sre"]
    role: sre
    environments: ["*"]
    when: always
`;
    expect(problemsOf(text)).toEqual([
      "policy.yaml:2:28 environments.production.approvals: Invalid input: expected number, received string",
      "policy.yaml:2:50 environments.production.maxTtlSeconds: Too big: expected number to be <=300",
      "policy.yaml:3:3 environments.Staging: must be a lowercase DNS label (a-z, 0-9, -)",
      'policy.yaml:5:26 roles.sre.extra: unknown key "extra"',
      'policy.yaml:7:18 bindings[0].subjects[0]: must be "group:<name>", "user:<email>" or "svc:<name>"',
      'policy.yaml:11:5 bindings[1].when: unknown key "when"',
      'policy.yaml:7:57 bindings[0].environments[0]: unknown environment "prod"',
    ]);
  });

  it("reports YAML syntax errors and duplicate keys with positions", () => {
    expect(problemsOf("environments:\n  staging: {\n")[0]).toMatch(/^policy\.yaml:\d+:\d+ /);
    const dup = problemsOf("environments:\n  staging: { approvals: 0 }\n  staging: { approvals: 0 }\n");
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatch(/^policy\.yaml:3:3 .*[Uu]nique/);
  });

  it("refuses a policy without environments, and a file that is not a mapping", () => {
    expect(problemsOf("roles: {}\n")).toEqual([
      "policy.yaml:1:1 environments: Invalid input: expected record, received undefined",
    ]);
    expect(problemsOf("environments: {}\n")).toEqual([
      "policy.yaml:1:15 environments: at least one environment is required",
    ]);
    expect(problemsOf("- a\n- b\n")[0]).toMatch(/^policy\.yaml:1:1 \(root\): /);
  });

  it("an environment takes every default but its approvals, which are always written out", () => {
    const policy = parsePolicy("environments:\n  staging: { approvals: 0 }\n", "p.yaml");
    expect(policy.environments.get("staging")).toMatchObject({ approvals: 0, maxTtlSeconds: 120 });
  });

  it("embeds a default policy: production needs one approval, the sre group may do everything", async () => {
    const policy = await loadPolicy(undefined);
    expect(policy.environments.get("production")).toMatchObject({ approvals: 1, maxTtlSeconds: 120 });
    expect(policy.environments.get("staging")).toMatchObject({ approvals: 0 });
    expect(
      evaluate(policy, { subject: "user:a@b.c", groups: ["sre"] }, "heap-snapshot", "production").allowed,
    ).toBe(true);
    expect(parsePolicy(DEFAULT_POLICY_YAML, "x").digest).toBe(policy.digest);
  });

  it("says which file could not be read", async () => {
    await expect(loadPolicy("/nonexistent/policy.yaml")).rejects.toThrow(
      /cannot read policy \/nonexistent\/policy\.yaml/,
    );
  });
});

describe("evaluate", () => {
  const policy = parsePolicy(SPEC_POLICY, "policy.yaml");
  const carol = { subject: "user:carol@example.com", groups: [] };
  const sre = { subject: "user:sam@example.com", groups: ["oncall", "sre"] };
  const support = { subject: "svc:helpdesk", groups: ["support"] };

  it("allows through the first matching binding and says which", () => {
    expect(evaluate(policy, sre, "heap-snapshot", "production")).toEqual({
      allowed: true,
      binding: 0,
      role: "sre",
      reason: 'bindings[0] grants role "sre" to group:sre in "production", which allows "heap-snapshot"',
    });
    expect(evaluate(policy, carol, "env", "staging")).toMatchObject({
      allowed: true,
      binding: 1,
      role: "support",
    });
    expect(evaluate(policy, support, "log-tail", "production")).toMatchObject({ allowed: true, binding: 1 });
  });

  it("denies by default: wrong action, no matching subject, unknown environment", () => {
    expect(evaluate(policy, carol, "heap-snapshot", "staging")).toMatchObject({ allowed: false });
    expect(evaluate(policy, carol, "heap-snapshot", "staging").binding).toBeUndefined();
    expect(evaluate(policy, { subject: "user:x@y.z", groups: ["sres"] }, "env", "staging").allowed).toBe(
      false,
    );
    expect(evaluate(policy, sre, "env", "qa")).toEqual({
      allowed: false,
      reason: 'environment "qa" is not in the policy',
    });
    expect(evaluate(policy, carol, "env", "production").allowed).toBe(true);
    // A group binding is not matched by a subject of the same name.
    expect(evaluate(policy, { subject: "svc:sre", groups: [] }, "env", "staging").allowed).toBe(false);
  });

  it("respects the environments a binding names", () => {
    const scoped = parsePolicy(
      'environments: { production: { approvals: 1 }, staging: { approvals: 0 } }\nroles: { r: { actions: [env] } }\nbindings:\n  - { subjects: ["user:a@b.c"], role: r, environments: [staging] }\n',
      "p.yaml",
    );
    const a = { subject: "user:a@b.c", groups: [] };
    expect(evaluate(scoped, a, "env", "staging").allowed).toBe(true);
    expect(evaluate(scoped, a, "env", "production").allowed).toBe(false);
  });
});

describe("privileges beyond the action's name", () => {
  const policy = parsePolicy(
    `${SPEC_POLICY}  - { subjects: ["user:dora@example.com"], role: forensics, environments: [staging] }
  - { subjects: ["user:eve@example.com"], role: bundler, environments: [staging] }
`.replace(
      "roles:\n",
      'roles:\n  forensics: { actions: [heap-snapshot, "heap-snapshot:unredacted"] }\n  bundler: { actions: [bundle, process-info] }\n',
    ),
    "policy.yaml",
  );
  const sre = { subject: "user:alice@example.com", groups: ["sre"] };
  const dora = { subject: "user:dora@example.com", groups: [] };
  const eve = { subject: "user:eve@example.com", groups: [] };

  it("a heap snapshot without redaction needs the privilege by name: '*' does not grant raw memory", () => {
    expect(evaluate(policy, sre, "heap-snapshot", "staging", {}).allowed).toBe(true);
    expect(evaluate(policy, sre, "heap-snapshot", "staging", { redact: true }).allowed).toBe(true);
    const raw = evaluate(policy, sre, "heap-snapshot", "staging", { redact: false });
    expect(raw.allowed).toBe(false);
    expect(raw.reason).toContain('"heap-snapshot:unredacted"');
    expect(evaluate(policy, dora, "heap-snapshot", "staging", { redact: false }).allowed).toBe(true);
    expect(evaluate(policy, dora, "heap-snapshot", "production", { redact: false }).allowed).toBe(false);
  });

  it("a bundle needs every action inside it, and raw memory inside a bundle needs the privilege too", () => {
    const facts = { actions: [{ action: "process-info", params: {} }] };
    expect(evaluate(policy, eve, "bundle", "staging", facts).allowed).toBe(true);
    const withEnv = {
      actions: [
        { action: "process-info", params: {} },
        { action: "env", params: {} },
      ],
    };
    const refused = evaluate(policy, eve, "bundle", "staging", withEnv);
    expect(refused).toMatchObject({ allowed: false });
    expect(refused.reason).toContain('"env" (inside the bundle)');
    const rawInBundle = { actions: [{ action: "heap-snapshot", params: { redact: false } }] };
    expect(evaluate(policy, sre, "bundle", "staging", rawInBundle).allowed).toBe(false);
  });

  it("the policy file accepts '<action>:unredacted' and nothing else after a colon", () => {
    expect(
      problemsOf(SPEC_POLICY.replace('sre:     { actions: ["*"] }', 'sre: { actions: ["env:raw"] }'))[0],
    ).toContain("<action>:unredacted");
  });
});

describe("artifactRetentionDays", () => {
  it("is read per environment and refused outside 1..3650 with its position", () => {
    const policy = parsePolicy(
      "environments:\n  production: { approvals: 1, artifactRetentionDays: 90 }\n  staging: { approvals: 0 }\n",
      "policy.yaml",
    );
    expect(policy.environments.get("production")?.artifactRetentionDays).toBe(90);
    expect(policy.environments.get("staging")?.artifactRetentionDays).toBe(30);
    expect(() =>
      parsePolicy("environments:\n  production: { approvals: 1, artifactRetentionDays: 0 }\n", "p.yaml"),
    ).toThrow(/p\.yaml:2:\d+ .*artifactRetentionDays/);
    expect(() =>
      parsePolicy("environments:\n  production: { approvals: 1, artifactRetentionDays: 1.5 }\n", "p.yaml"),
    ).toThrow(/artifactRetentionDays/);
  });
});
