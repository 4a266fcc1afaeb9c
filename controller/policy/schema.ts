/**
 * The policy file's schema (SPEC section 5). Strict everywhere: a misspelt key is an error, never a
 * silently ignored rule. Cross-references (roles, environments) are checked in load-policy.ts.
 */
import { z } from "zod";
import { canonicalSubject, GROUP_NAME_PATTERN } from "../identity/subject.js";

/** Environment names travel in the `env` claim (at most 63 characters), so they are DNS-label shaped. */
export const environmentNameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a lowercase DNS label (a-z, 0-9, -)");

const roleNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be a role name (A-Z, a-z, 0-9, ._-)");

/** `group:<name>`: membership comes from the caller's token. */
export { GROUP_NAME_PATTERN };

/**
 * A binding names people and groups in their canonical form (identity/subject.ts), so
 * `user:Carol@Example.com` in the file binds the same person an ID token for carol@example.com is;
 * a subject with no canonical form (a look-alike letter, a space) is a policy error, not a rule that
 * silently never matches.
 */
const bindingSubjectSchema = z.string().transform((s, ctx) => {
  const result = canonicalSubject(s, { allowGroup: true });
  if ("problem" in result) {
    ctx.addIssue({ code: "custom", message: result.problem });
    return z.NEVER;
  }
  return result.subject;
});

const actionNameSchema = z
  .string()
  .refine(
    (s) => s === "*" || /^[a-z][a-z0-9-]{0,63}(:unredacted)?$/.test(s),
    'must be an action name, "<action>:unredacted" or "*"',
  );

export const environmentSchema = z.strictObject({
  /**
   * Distinct approvals (other than the requester) needed before dispatch. Required, never a default:
   * a file cut short after `production:` (read while an editor wrote it) must not load as "no
   * approvals" (issue 23, finding 8); `approvals: 0` says it on purpose.
   */
  approvals: z
    .number({
      error: (issue) =>
        issue.input === undefined
          ? "is required: the number of approvals each request here needs (0 for none, written out)"
          : undefined,
    })
    .int()
    .min(0)
    .max(20),
  /** `exp - iat` of the envelopes sent to this environment; the agent's own ceiling is 300. */
  maxTtlSeconds: z.number().int().min(1).max(300).default(120),
  /** Whether `keyhole run --break-glass` may skip approvals here (a review follows each use). */
  breakGlass: z.boolean().default(false),
  /** After a break-glass use, how long the same subject must wait before the next one (any environment). */
  breakGlassCooldownSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(3600),
  /** How long a request may wait for approval before the sweeper expires it. */
  pendingTtlSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(3600),
  /** How long stored artifacts are kept before the sweeper deletes them (at most ten years). */
  artifactRetentionDays: z.number().int().min(1).max(3650).default(30),
});
export type EnvironmentPolicy = z.output<typeof environmentSchema>;

const roleSchema = z.strictObject({ actions: z.array(actionNameSchema).min(1) });

const bindingSchema = z.strictObject({
  subjects: z.array(bindingSubjectSchema).min(1),
  role: z.string().min(1),
  environments: z.array(z.string().min(1)).min(1),
});
export type PolicyBinding = z.output<typeof bindingSchema>;

export const policyFileSchema = z.strictObject({
  // An environment needs a body with at least `approvals`: `staging:` with no value, which once meant
  // "all defaults" (0 approvals), is what a policy file cut short mid-write looks like (issue 23,
  // finding 8).
  environments: z
    .record(
      environmentNameSchema,
      z
        .unknown()
        .superRefine((v, ctx) => {
          if (v === null || v === undefined)
            ctx.addIssue({
              code: "custom",
              message:
                "has no settings: give at least its approvals, e.g. `{ approvals: 1 }` (`{ approvals: 0 }` for none)",
            });
        })
        .pipe(environmentSchema),
    )
    .refine((envs) => Object.keys(envs).length > 0, "at least one environment is required"),
  roles: z.record(roleNameSchema, roleSchema).default({}),
  bindings: z.array(bindingSchema).default([]),
});
export type PolicyFile = z.output<typeof policyFileSchema>;
