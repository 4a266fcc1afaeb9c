import { describe, expect, it } from "vitest";
import { loadControllerConfig } from "../../../controller/config.js";
import type { ConfigError } from "../../../controller/errors.js";
import { looksLikeJwt, principalFromClaims } from "../../../controller/identity/oidc.js";

describe("ID token claims → principal", () => {
  it("maps email to user:<email> (lower-cased) and the configured claim to groups", () => {
    expect(
      principalFromClaims(
        { email: "Bob@Example.COM", email_verified: true, roles: ["sre", "DB-Admins"] },
        "roles",
      ),
    ).toEqual({
      principal: { subject: "user:bob@example.com", groups: ["sre", "db-admins"] },
      droppedGroups: 0,
    });
    // One group as a string; the default claim ignored when another is configured.
    expect(
      principalFromClaims({ email: "a@b.c", email_verified: true, team: "sre", groups: ["x"] }, "team"),
    ).toMatchObject({
      principal: { groups: ["sre"] },
    });
  });

  it("drops group values that cannot be group names, and duplicates", () => {
    const mapped = principalFromClaims(
      {
        email: "a@b.c",
        email_verified: true,
        groups: ["sre", "SRE", "has space", 7, "cn=admins,ou=x", "ok.team"],
      },
      "groups",
    );
    expect(mapped).toEqual({
      principal: { subject: "user:a@b.c", groups: ["sre", "ok.team"] },
      droppedGroups: 4,
    });
  });

  it("refuses tokens without a usable, verified email", () => {
    expect(principalFromClaims({ sub: "x" }, "groups")).toEqual({ refused: "no email claim" });
    expect(principalFromClaims({ email: "a@b.c", email_verified: false }, "groups")).toEqual({
      refused: "email not verified",
    });
    expect(principalFromClaims({ email: "not an address", email_verified: true }, "groups")).toEqual({
      refused: "email claim has no canonical subject",
    });
  });

  it("finding 5: identity comes only from a verified email, in its one canonical form", () => {
    // No email_verified at all is not a yes (the review's token had none and was accepted).
    expect(principalFromClaims({ email: "alice@example.com" }, "groups")).toEqual({
      refused: "email not verified",
    });
    // A string is not the boolean the claim is defined as.
    expect(principalFromClaims({ email: "alice@example.com", email_verified: "true" }, "groups")).toEqual({
      refused: "email not verified",
    });
    // A Cyrillic "а" or a full-width letter is refused, never folded into alice's subject.
    for (const email of ["\u0430lice@example.com", "\uff41lice@example.com", "alice@example.com\u200b"])
      expect(principalFromClaims({ email, email_verified: true }, "groups")).toEqual({
        refused: "email claim has no canonical subject",
      });
  });

  it("tells a JWT from a controller token", () => {
    expect(looksLikeJwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")).toBe(true);
    expect(looksLikeJwt(`kh_${"0".repeat(16)}_${"a".repeat(43)}`)).toBe(false);
  });
});

describe("OIDC configuration", () => {
  const problems = (options: Record<string, string>) => {
    try {
      loadControllerConfig(options, {}, "/tmp");
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };

  it("needs issuer and audience together, https unless on loopback", () => {
    expect(problems({ oidcIssuer: "https://login.example.com" })).toEqual([
      "--oidc-issuer and --oidc-audience (KEYHOLE_OIDC_*): give both or neither",
    ]);
    expect(problems({ oidcIssuer: "http://login.example.com", oidcAudience: "k" })[0]).toMatch(/https/);
    expect(problems({ oidcGroupsClaim: "roles" })).toEqual([
      "--oidc-groups-claim (KEYHOLE_OIDC_GROUPS_CLAIM): needs --oidc-issuer",
    ]);
    expect(
      loadControllerConfig({ oidcIssuer: "http://127.0.0.1:9000", oidcAudience: "k" }, {}, "/tmp").oidc,
    ).toEqual({ issuer: "http://127.0.0.1:9000", audience: "k", groupsClaim: "groups" });
    expect(
      loadControllerConfig(
        {},
        {
          KEYHOLE_OIDC_ISSUER: "https://id.example.com",
          KEYHOLE_OIDC_AUDIENCE: "kh",
          KEYHOLE_OIDC_GROUPS_CLAIM: "roles",
        },
        "/tmp",
      ).oidc,
    ).toEqual({ issuer: "https://id.example.com", audience: "kh", groupsClaim: "roles" });
  });
});
