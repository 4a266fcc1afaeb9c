import { describe, expect, it } from "vitest";
import {
  parseTriggerRules,
  renderSelector,
  ruleMatches,
} from "../../../../controller/fleet/trigger-rules.js";
import { parsePolicy } from "../../../../controller/policy/load-policy.js";

const policy = parsePolicy(
  "environments:\n  staging: { approvals: 0 }\n  production: { approvals: 1 }\n",
  "policy.yaml",
);

describe("trigger rules", () => {
  it("parses rules with defaults", () => {
    const rules = parseTriggerRules(
      `rules:
  - name: mem
    receivers: [svc:alertmanager, "svc:AlertManager"]
    match: { alertname: HighMemory }
    action: process-info
    selector: app=\${app}
    maxErrors: 10%
    cooldown: 15m
  - name: cpu
    receivers: [svc:alertmanager]
    match: { alertname: HighCPU, team: payments }
    action: cpu-profile
    selector: app=payments
    environment: production
    params: { seconds: 10 }
    maxErrors: 0
`,
      "rules.yaml",
      policy,
    );
    expect(rules.rules.map((r) => [r.name, r.cooldownSeconds, r.maxErrors, r.receivers])).toEqual([
      ["mem", 900, "10%", ["svc:alertmanager"]],
      ["cpu", 1800, "0", ["svc:alertmanager"]],
    ]);
    const mem = rules.rules[0]!;
    expect(ruleMatches(mem, { alertname: "HighMemory", app: "x" })).toBe(true);
    expect(ruleMatches(mem, { alertname: "Other" })).toBe(false);
    expect(renderSelector(mem, { alertname: "HighMemory", app: "orders" })).toEqual({
      selector: "app=orders",
    });
    expect(renderSelector(mem, { alertname: "HighMemory" })).toEqual({ missing: ["app"] });
  });

  it("an empty file has no rules", () => {
    expect(parseTriggerRules("", "rules.yaml", policy).rules).toEqual([]);
  });

  it("lists every problem with its file:line:col", () => {
    const text = `rules:
  - name: a
    match: { alertname: X }
    action: process-info
    selector: "app=pay ments"
    environment: prod
    maxErrors: 200%
    cooldown: 0
    receivers: [svc:alertmanager]
  - name: a
    match: {}
    action: Bad
    selector: app=x
    colour: red
`;
    let problems: readonly string[] = [];
    try {
      parseTriggerRules(text, "rules.yaml", policy);
    } catch (err) {
      problems = (err as { problems: readonly string[] }).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^rules\.yaml:10:5 rules\[1\]\.receivers: name the receivers/),
      expect.stringMatching(/^rules\.yaml:11:12 rules\[1\]\.match: must name at least one label/),
      expect.stringMatching(/^rules\.yaml:12:13 rules\[1\]\.action: must be an action name/),
      expect.stringMatching(/^rules\.yaml:14:5 rules\[1\]\.colour: unknown key "colour"/),
      expect.stringMatching(/^rules\.yaml:5:15 rules\[0\]\.selector: .*not a label value/),
      'rules.yaml:6:18 rules[0].environment: environment "prod" is not in the policy',
      expect.stringMatching(/^rules\.yaml:7:16 rules\[0\]\.maxErrors: maxErrors must be a count/),
      expect.stringMatching(/^rules\.yaml:8:15 rules\[0\]\.cooldown: invalid duration "0"/),
      'rules.yaml:10:11 rules[1].name: duplicate rule name "a"',
    ]);
  });

  it("refuses duplicate names", () => {
    expect(() =>
      parseTriggerRules(
        "rules:\n  - { name: a, match: { x: y }, action: env, selector: a=b }\n  - { name: a, match: { x: y }, action: env, selector: a=b }\n",
        "r.yaml",
        policy,
      ),
    ).toThrow(/r\.yaml:3:13 rules\[1\]\.name: duplicate rule name "a"/);
  });

  it("bad requests reach an approver: a rule whose action or params the catalogue refuses does not load", () => {
    const text = `rules:
  - { name: a, receivers: [svc:am], match: { x: y }, action: nosuchaction, selector: a=b }
  - { name: b, receivers: [svc:am], match: { x: y }, action: log-tail, selector: a=b, params: { file: /var/log/a, lines: abc, bogus: 1 } }
  - { name: c, receivers: [svc:am], match: { x: y }, action: cpu-profile, selector: a=b, params: { seconds: 600 } }
  - { name: d, receivers: [user:alice@example.com], match: { x: y }, action: env, selector: a=b }
  - { name: e, receivers: [svc:am], match: { x: y }, action: cpu-profile, selector: a=b, params: { seconds: 30 } }
`;
    let problems: readonly string[] = [];
    try {
      parseTriggerRules(text, "r.yaml", policy);
    } catch (err) {
      problems = (err as { problems: readonly string[] }).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^r\.yaml:5:\d+ rules\[3\]\.receivers\[0\]: a receiver is a service identity/),
      expect.stringMatching(/^r\.yaml:2:\d+ rules\[0\]\.action: "nosuchaction" is not an action/),
      expect.stringMatching(/^r\.yaml:3:\d+ rules\[1\]\.params: invalid params for log-tail: .*lines/),
      expect.stringMatching(/^r\.yaml:4:\d+ rules\[2\]\.params: invalid params for cpu-profile: seconds/),
    ]);
  });
});
