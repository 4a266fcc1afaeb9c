/**
 * One canonical subject per person (docs/governance.md#one-subject-per-person).
 *
 * Every identity that enters the controller — a token being issued, an OIDC ID token, a policy
 * binding, `policy explain`, and whatever a store hands back — goes through `canonicalSubject`, so
 * every comparison after it (requester vs approver, break-glass user vs reviewer, binding vs caller,
 * cooldowns and rate limits per subject) compares one string per person.
 *
 * The rule: ASCII only, no whitespace or control characters, lower-case. The only change made is
 * ASCII case (`user:Alice@Example.COM` becomes `user:alice@example.com`, `svc:CI` becomes `svc:ci`).
 * Anything a person could not tell apart from another subject on a screen is refused, never folded:
 * look-alike letters from other scripts (Cyrillic `а`), full-width and other compatibility forms that
 * NFKC would rewrite, combining marks, zero-width characters, spaces anywhere, a trailing dot on a
 * domain, empty or doubled dots in an address, and prefixes other than `user:`, `svc:` (and `group:`
 * where a group is meant).
 */
import { z } from "zod";

/** A group name as the policy and credentials carry it (case is folded: `SRE` is `sre`). */
export const GROUP_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const LOCAL_ATOM = "[a-z0-9_%+'-]+";
const LOCAL_PART = new RegExp(`^${LOCAL_ATOM}(\\.${LOCAL_ATOM})*$`);
const DOMAIN_LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const DOMAIN = new RegExp(`^${DOMAIN_LABEL}(\\.${DOMAIN_LABEL})*$`);
const SERVICE_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export type CanonicalSubject = { readonly subject: string } | { readonly problem: string };

/** Why `text` is not plain printable ASCII, or undefined when it is. */
function unicodeProblem(text: string): string | undefined {
  if (/^[\x21-\x7e]*$/.test(text)) return undefined;
  if (/\s/.test(text)) return "must not contain spaces, tabs or line breaks";
  const nfkc = text.normalize("NFKC");
  if (nfkc !== text && /^[\x21-\x7e]*$/.test(nfkc))
    return `must be plain ASCII: it holds compatibility characters (NFKC reads it as "${nfkc}"), which are refused rather than folded`;
  return "must be plain ASCII: letters from other scripts, accents, look-alikes and invisible characters are refused rather than folded";
}

/**
 * The canonical form of a subject (`user:<email>`, `svc:<name>`, and `group:<name>` with
 * `allowGroup`), or why it has none. Pure; no I/O.
 */
export function canonicalSubject(text: string, options: { allowGroup?: boolean } = {}): CanonicalSubject {
  if (typeof text !== "string" || text.length === 0) return { problem: "must not be empty" };
  if (text.length > 320) return { problem: "must be at most 320 characters" };
  const unicode = unicodeProblem(text);
  if (unicode) return { problem: unicode };
  const lower = text.toLowerCase();
  const kinds = options.allowGroup
    ? '"group:<name>", "user:<email>" or "svc:<name>"'
    : '"user:<email>" or "svc:<name>"';
  if (lower.startsWith("user:")) {
    const address = lower.slice(5);
    const at = address.indexOf("@");
    if (at < 0 || address.indexOf("@", at + 1) >= 0)
      return { problem: "must be user:<email> with exactly one @" };
    const local = address.slice(0, at);
    const domain = address.slice(at + 1);
    if (local.length === 0 || local.length > 64 || !LOCAL_PART.test(local))
      return {
        problem: `the mailbox "${local}" must be letters, digits and . _ % + ' - without empty, leading or trailing dots`,
      };
    if (domain.length > 253 || !DOMAIN.test(domain))
      return { problem: `the domain "${domain}" must be DNS labels (a-z, 0-9, -) without a trailing dot` };
    return { subject: `user:${address}` };
  }
  if (lower.startsWith("svc:")) {
    if (!SERVICE_NAME.test(lower.slice(4)))
      return { problem: "must be svc:<name> with a name of a-z, 0-9, . _ - (at most 128)" };
    return { subject: lower };
  }
  if (lower.startsWith("group:")) {
    if (!options.allowGroup) return { problem: `a group is not a caller: must be ${kinds}` };
    if (!GROUP_NAME_PATTERN.test(lower.slice(6)))
      return { problem: "must be group:<name> with a name of a-z, 0-9, . _ - (at most 64)" };
    return { subject: lower };
  }
  return { problem: `must be ${kinds}` };
}

/** The canonical form of a group name (without `group:`), or undefined when it is not one. */
export function canonicalGroup(name: string): string | undefined {
  return typeof name === "string" && GROUP_NAME_PATTERN.test(name) ? name.toLowerCase() : undefined;
}

/**
 * True when two stored or presented subjects name the same person. Records written before
 * canonicalisation may hold `user:Alice@…`; comparing through the canonical form keeps them the
 * same person as `user:alice@…`. A subject with no canonical form matches only itself.
 */
export function sameSubject(a: string, b: string): boolean {
  if (a === b) return true;
  const ca = canonicalSubject(a, { allowGroup: true });
  const cb = canonicalSubject(b, { allowGroup: true });
  return "subject" in ca && "subject" in cb && ca.subject === cb.subject;
}

/** A zod schema that canonicalises a caller subject (`user:` or `svc:`) or refuses it with the reason. */
export const canonicalSubjectSchema = z.string().transform((text, ctx) => {
  const result = canonicalSubject(text);
  if ("problem" in result) {
    ctx.addIssue({ code: "custom", message: result.problem });
    return z.NEVER;
  }
  return result.subject;
});

/** A zod schema that canonicalises a group name (without `group:`). */
export const canonicalGroupSchema = z.string().transform((text, ctx) => {
  const group = canonicalGroup(text);
  if (group === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "a group name is A-Z, a-z, 0-9, ._- (at most 64; case is folded)",
    });
    return z.NEVER;
  }
  return group;
});
