/**
 * The policy used when none is given: production needs one approval, staging none, and the `sre`
 * group may run every action everywhere. Kept as YAML text so the demo can write it out and an
 * operator can start from it.
 */
export const DEFAULT_POLICY_YAML = `# keyhole embedded default policy
environments:
  production: { approvals: 1, maxTtlSeconds: 120 }
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

/** The name the default policy is reported under in errors and in the audit trail. */
export const DEFAULT_POLICY_SOURCE = "(embedded default policy)";
