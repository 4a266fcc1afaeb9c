/**
 * The answer signature (protocol/answer.ts, issue 21): what the agent signs (agent/answer-signer.ts)
 * verifies with its key for exactly that jti, agent, kind, action, digest and size, and nothing else.
 */
import { describe, expect, it } from "vitest";
import { AnswerSigner } from "../../../agent/answer-signer.js";
import { ephemeralIdentity } from "../../../agent/identity.js";
import { checkAnswerSignature, decodeAnswerSignature, jsonContentDigest } from "../../../protocol/answer.js";

const identity = ephemeralIdentity();
const signer = new AnswerSigner(identity, () => 1_700_000_000_000);
const answer = {
  requestId: "jti-0123456789abcdef",
  agent: "staging/a/a-0",
  action: "process-info",
  startedAt: "2026-12-02T00:00:00.000Z",
  durationMs: 1,
  result: { pid: 7, when: undefined, list: [1, "x"] },
  masked: { "aws-key": 1 },
};

describe("answer signatures", () => {
  it("signs an inline answer over the canonical JSON of what the receiver parses", () => {
    const { signature, ...content } = JSON.parse(signer.inline(answer));
    const expected = {
      jti: answer.requestId,
      agent: answer.agent,
      kind: "inline" as const,
      action: "process-info",
    };
    const checked = checkAnswerSignature(signature, identity.jwk.x, {
      ...expected,
      sha256: jsonContentDigest(content),
    });
    expect(checked).toMatchObject({ statement: { ...expected, iat: 1_700_000_000 } });
    // Key order and whitespace do not matter; content does.
    const reordered = JSON.parse(JSON.stringify({ masked: content.masked, ...content }));
    expect(
      typeof checkAnswerSignature(signature, identity.jwk.x, {
        ...expected,
        sha256: jsonContentDigest(reordered),
      }),
    ).toBe("object");
    const changed = { ...content, result: { ...content.result, pid: 1 } };
    expect(
      checkAnswerSignature(signature, identity.jwk.x, { ...expected, sha256: jsonContentDigest(changed) }),
    ).toMatch(/sha256/);
  });

  it.each([
    ["another jti", { jti: "jti-other-000000000" }, /signed for jti/],
    ["another agent", { agent: "staging/a/a-1" }, /signed by agent/],
    ["another kind", { kind: "error" as const }, /signed as inline/],
    ["another action", { action: "env" }, /signed for action/],
    ["another size", { bytes: 3 }, /bytes are not the signed/],
  ])("refuses %s", (_what, change, why) => {
    const { signature, ...content } = JSON.parse(signer.inline(answer));
    const expected = {
      jti: answer.requestId,
      agent: answer.agent,
      kind: "inline" as const,
      action: "process-info",
      sha256: jsonContentDigest(content),
    };
    expect(checkAnswerSignature(signature, identity.jwk.x, { ...expected, ...change })).toMatch(why);
  });

  it("refuses another key, a tampered header or statement, and what is no signature", () => {
    const sig = signer.stream({
      jti: "jti-0123456789abcdef",
      agent: "a",
      action: "bundle",
      sha256: "0".repeat(64),
      bytes: 5,
      masked: {},
    });
    const expected = {
      jti: "jti-0123456789abcdef",
      agent: "a",
      kind: "stream" as const,
      sha256: "0".repeat(64),
      bytes: 5,
    };
    expect(typeof checkAnswerSignature(sig, identity.jwk.x, expected)).toBe("object");
    expect(checkAnswerSignature(sig, ephemeralIdentity().jwk.x, expected)).toMatch(/does not verify/);
    const [h, p, s] = sig.split(".");
    const statement = JSON.parse(Buffer.from(p!, "base64url").toString());
    const forged = Buffer.from(JSON.stringify({ ...statement, bytes: 6 })).toString("base64url");
    expect(checkAnswerSignature(`${h}.${forged}.${s}`, identity.jwk.x, { ...expected, bytes: 6 })).toMatch(
      /does not verify/,
    );
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "keyhole-answer+jwt" })).toString(
      "base64url",
    );
    expect(checkAnswerSignature(`${header}.${p}.${s}`, identity.jwk.x, expected)).toMatch(/header/);
    for (const bad of [undefined, "", "a.b", "a.b.c.d", 42, "x".repeat(9000)])
      expect(typeof decodeAnswerSignature(bad)).toBe("string");
  });

  it("signs a refusal as an error, which never passes for a result", () => {
    const body = { error: { code: "KH_PATH_DENIED", message: "outside the log roots" } };
    const sig = signer.refusal("jti-0123456789abcdef", "a", body);
    const base = { jti: "jti-0123456789abcdef", agent: "a", sha256: jsonContentDigest(body) };
    expect(typeof checkAnswerSignature(sig, identity.jwk.x, { ...base, kind: "error" })).toBe("object");
    expect(checkAnswerSignature(sig, identity.jwk.x, { ...base, kind: "inline" })).toMatch(/signed as error/);
  });
});
