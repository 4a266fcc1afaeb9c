import { describe, expect, it } from "vitest";
import { evaluate } from "../../../controller/policy/evaluate.js";
import { explain, renderExplanation } from "../../../controller/policy/explain.js";
import { parsePolicy } from "../../../controller/policy/load-policy.js";

const POLICY = parsePolicy(
  `environments:
  production: { approvals: 1, maxTtlSeconds: 120, breakGlass: true }
  staging: { approvals: 0 }
roles:
  support: { actions: [process-info, env, log-tail, net-connections] }
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support", "user:carol@example.com"], role: support, environments: [staging, production] }
  - { subjects: ["svc:ci"], role: support, environments: [staging] }
`,
  "policy.yaml",
);

describe("policy explain", () => {
  it("names the binding and rule that allow, and what the environment then demands", () => {
    const e = explain(
      POLICY,
      { subject: "user:carol@example.com", groups: [] },
      "env",
      "production",
      "production/shop/shop-0",
    );
    expect(e).toMatchObject({
      allowed: true,
      binding: { index: 1, role: "support", matchedSubject: "user:carol@example.com" },
      environmentRules: { approvals: 1, breakGlass: true },
      target: "production/shop/shop-0",
      policy: { source: "policy.yaml", digest: POLICY.digest },
    });
    expect(e.summary).toBe(
      'bindings[1] grants role "support" to user:carol@example.com in "production", which allows "env"; it then needs 1 approval(s) by someone else allowed the same; break-glass is allowed there',
    );
    expect(e.bindings.map((b) => b.outcome)).toEqual(["other-subject", "allows"]);
    expect(renderExplanation(e)).toMatch(/^ALLOWED: bindings\[1\]/);
  });

  it("says for every binding why it does not apply when nothing allows", () => {
    const e = explain(POLICY, { subject: "svc:ci", groups: ["support-lite"] }, "heap-snapshot", "production");
    expect(e.allowed).toBe(false);
    expect(e.bindings).toEqual([
      expect.objectContaining({ index: 0, outcome: "other-subject" }),
      expect.objectContaining({ index: 1, outcome: "other-subject" }),
      expect.objectContaining({
        index: 2,
        outcome: "other-environment",
        why: 'covers staging, not "production"',
      }),
    ]);
    const inRole = explain(
      POLICY,
      { subject: "user:dan@example.com", groups: ["support"] },
      "heap-snapshot",
      "staging",
    );
    expect(inRole.bindings[1]).toMatchObject({ outcome: "action-not-in-role" });
    expect(inRole.bindings[1]!.why).toMatch(
      /role "support" allows process-info, env, log-tail, net-connections, not "heap-snapshot"/,
    );
    expect(renderExplanation(inRole).split("\n")[0]).toMatch(
      /^DENIED: no binding grants user:dan@example.com \(groups: support\)/,
    );
  });

  it("explains an environment the policy does not have", () => {
    const e = explain(POLICY, { subject: "user:a@b.c", groups: ["sre"] }, "env", "qa");
    expect(e).toMatchObject({
      allowed: false,
      bindings: [],
      summary: 'environment "qa" is not in the policy',
    });
    expect(e.environmentRules).toBeUndefined();
  });

  it("always agrees with evaluate", () => {
    const subjects = [
      { subject: "user:carol@example.com", groups: [] },
      { subject: "user:x@example.com", groups: ["sre"] },
      { subject: "user:y@example.com", groups: ["support"] },
      { subject: "svc:ci", groups: [] },
      { subject: "svc:other", groups: ["nobody"] },
    ];
    for (const who of subjects)
      for (const action of ["env", "heap-snapshot", "process-info", "bundle"])
        for (const environment of ["production", "staging", "qa"]) {
          const d = evaluate(POLICY, who, action, environment);
          const e = explain(POLICY, who, action, environment);
          expect({ who, action, environment, allowed: e.allowed, binding: e.binding?.index }).toEqual({
            who,
            action,
            environment,
            allowed: d.allowed,
            binding: d.binding,
          });
        }
  });
});
