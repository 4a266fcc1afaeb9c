import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalGroup, canonicalSubject, sameSubject } from "../../../controller/identity/subject.js";
import { evaluate } from "../../../controller/policy/evaluate.js";
import { parsePolicy } from "../../../controller/policy/load-policy.js";

const ok = (text: string, options?: { allowGroup?: boolean }) => {
  const result = canonicalSubject(text, options);
  return "subject" in result ? result.subject : undefined;
};

describe("one canonical subject per person", () => {
  it("folds ASCII case, and only that", () => {
    expect(ok("user:Alice@Example.COM")).toBe("user:alice@example.com");
    expect(ok("USER:alice@example.com")).toBe("user:alice@example.com");
    expect(ok("svc:Alertmanager")).toBe("svc:alertmanager");
    expect(ok("user:o'brien+ci@mail.example.co.uk")).toBe("user:o'brien+ci@mail.example.co.uk");
    expect(ok("group:SRE", { allowGroup: true })).toBe("group:sre");
    expect(canonicalGroup("On-Call")).toBe("on-call");
  });

  it("refuses what a person could not tell apart on a screen, instead of folding it", () => {
    for (const text of [
      "user:\u0430lice@example.com", // Cyrillic а
      "user:\uff41lice@example.com", // full-width a (NFKC would fold it)
      "user:alice@example.com\u200b", // zero-width space
      "user:alice\u0301@example.com", // combining accent
      "user:ﬁona@example.com", // the fi ligature
      " user:alice@example.com",
      "user:alice@example.com ",
      "user: alice@example.com",
      "user:alice@example.com\t",
      "user:alice@example.com.", // a trailing dot is the same domain
      "user:alice..x@example.com",
      "user:.alice@example.com",
      "user:alice@@example.com",
      "user:alice@b@example.com",
      "user:user:alice@example.com",
      "user:svc:ci@example.com",
      "svc:user:alice",
      "svc:",
      "group:sre", // a group is not a caller
      "alice@example.com",
      "User alice",
      "",
    ])
      expect({ text, result: ok(text) }).toEqual({ text, result: undefined });
    expect(canonicalSubject("user:\uff41lice@example.com")).toEqual({
      problem: expect.stringMatching(/NFKC reads it as "user:alice@example.com"/),
    });
  });

  it("is idempotent, and two subjects are the same person exactly when their canonical forms are equal", () => {
    const letter = fc.constantFrom(..."abcXYZ019._-+".split(""));
    const word = fc.array(letter, { minLength: 1, maxLength: 8 }).map((a) => a.join(""));
    const subject = fc
      .tuple(word, fc.constantFrom("Example.com", "example.COM", "ex-1.org"), fc.boolean())
      .map(([local, domain, upper]) => `user:${upper ? local.toUpperCase() : local}@${domain}`);
    fc.assert(
      fc.property(subject, subject, (a, b) => {
        const ca = ok(a);
        if (ca === undefined) return;
        expect(ok(ca)).toBe(ca);
        const cb = ok(b);
        if (cb === undefined) return;
        expect(sameSubject(a, b)).toBe(ca === cb);
        expect(sameSubject(a, b)).toBe(a.toLowerCase() === b.toLowerCase());
      }),
      { numRuns: 500, seed: 16 },
    );
  });

  it("policy bindings are canonical: a binding written in capitals binds the person and the group", () => {
    const policy = parsePolicy(
      `environments:\n  production: { approvals: 1 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:SRE", "user:Carol@Example.COM"], role: sre, environments: ["*"] }\n`,
      "policy.yaml",
    );
    expect(policy.bindings[0]!.subjects).toEqual(["group:sre", "user:carol@example.com"]);
    expect(
      evaluate(policy, { subject: "user:carol@example.com", groups: [] }, "env", "production").allowed,
    ).toBe(true);
    expect(evaluate(policy, { subject: "svc:ci", groups: ["sre"] }, "env", "production").allowed).toBe(true);
    expect(() =>
      parsePolicy(
        `environments:\n  production: { approvals: 1 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["user:c\u0430rol@example.com"], role: sre, environments: ["*"] }\n`,
        "policy.yaml",
      ),
    ).toThrow(/bindings\[0\]\.subjects\[0\]: must be plain ASCII/);
  });
});
