/**
 * Agent verification of one request vs a bare `crypto.verify` of the same bytes (goal ≤ 1.5×).
 * Both loops go over the same N distinct envelopes, interleaved over several rounds; the ratio of
 * the medians is reported.
 */
import { createHash, generateKeyPairSync, verify } from "node:crypto";
import { CompactSign, exportJWK } from "jose";
import { ACTIONS } from "../agent/actions/index.js";
import { AnswerSigner } from "../agent/answer-signer.js";
import { buildApp } from "../agent/app.js";
import { loadAgentConfig } from "../agent/config.js";
import { ephemeralIdentity } from "../agent/identity.js";
import { createRedactor } from "../agent/redact/index.js";
import { ReplayCache } from "../agent/replay-cache.js";
import { parseTrustedKeys } from "../agent/trusted-keys.js";
import { verifyEnvelope } from "../agent/verify.js";
import { verifyAnswer } from "../controller/dispatch/verify-answer.js";
import { canonicalJson } from "../protocol/canonical-json.js";
import { type InlineResult, REQUEST_ALG, REQUEST_TYP } from "../protocol/request.js";
import { type BenchResult, median } from "./lib.js";

export async function benchVerify(n = 4000, rounds = 5): Promise<BenchResult> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const trustedKeys = parseTrustedKeys(
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1" }] }),
    "bench",
  );
  const now = Math.floor(Date.now() / 1000);
  const envelopes: string[] = [];
  for (let i = 0; i < n; i++) {
    const claims = {
      iss: "keyhole-controller",
      sub: "user:alice@example.com",
      aud: "bench/agent-0",
      env: "staging",
      iat: now,
      exp: now + 300,
      jti: `bench-jti-${i.toString().padStart(12, "0")}`,
      action: "process-info",
      params: {},
      reason: "bench: verification cost",
      approvals: ["user:bob@example.com"],
      output: { mode: "inline" },
    };
    envelopes.push(
      await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid: "k1" })
        .sign(privateKey),
    );
  }
  const bare = envelopes.map((jws) => {
    const dot = jws.lastIndexOf(".");
    return { data: Buffer.from(jws.slice(0, dot)), sig: Buffer.from(jws.slice(dot + 1), "base64url") };
  });

  const agentTimes: number[] = [];
  const bareTimes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let t = performance.now();
    for (const { data, sig } of bare)
      if (!verify(null, data, publicKey, sig)) throw new Error("bare verify failed");
    bareTimes.push((performance.now() - t) / n);

    const options = {
      agentId: "bench/agent-0",
      environment: "staging",
      trustedKeys,
      maxTtlSeconds: 300,
      bodyLimitBytes: 64 * 1024,
      replayCache: new ReplayCache(n + 1),
      actions: ACTIONS,
    };
    t = performance.now();
    for (const jws of envelopes) verifyEnvelope(jws, options);
    agentTimes.push((performance.now() - t) / n);
  }
  const agent = median(agentTimes);
  const reference = median(bareTimes);
  const ratio = agent / reference;
  return {
    name: "agent envelope verification vs bare crypto.verify",
    value: `${(agent * 1000).toFixed(1)} µs per request (all checks: shape, header, Ed25519, claims, time, audience, replay, action, params)`,
    reference: `${(reference * 1000).toFixed(1)} µs per crypto.verify of the same bytes`,
    ratio,
    goal: "≤ 1.5×",
    met: ratio <= 1.5,
  };
}

/**
 * The same answer path without signatures: what the agent sent before issue 21 (the JSON as is).
 * Only for the reference of benchAnswerSigning.
 */
class UnsignedAnswers extends AnswerSigner {
  override inline(answer: InlineResult): string {
    return JSON.stringify(answer);
  }
}

/**
 * Signed answers (issue 21): one `process-info` request through the agent's HTTP face (`buildApp`,
 * `inject`: envelope checks, the action on a real process, the answer) and the controller's handling
 * of the answer (parse, the result digest its audit record carries), with the agent signing its
 * answer and the controller verifying it (controller/dispatch/verify-answer.ts) against the same path
 * without either. Goal ≤ 1.15× per request. Interleaved rounds, ratio of the medians; the sign and
 * verify costs alone are printed too.
 */
export async function benchAnswerSigning(n = 400, rounds = 7): Promise<BenchResult> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const trustedKeys = parseTrustedKeys(
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1" }] }),
    "bench",
  );
  const config = loadAgentConfig(
    { id: "bench/agent-0", environment: "staging", trustedKeys: "unused", target: String(process.pid) },
    {},
  );
  const identity = ephemeralIdentity();
  const deps = {
    trustedKeys,
    registry: ACTIONS,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: false,
    identity,
  };
  const signed = buildApp(config, deps);
  const unsigned = buildApp(config, { ...deps, answerSigner: new UnsignedAnswers(identity) });
  await Promise.all([signed.ready(), unsigned.ready()]);
  let seq = 0;
  const envelope = async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: "keyhole-controller",
      sub: "user:alice@example.com",
      aud: "bench/agent-0",
      env: "staging",
      iat: now,
      exp: now + 300,
      jti: `bench-answer-${(seq++).toString().padStart(12, "0")}`,
      action: "process-info",
      params: {},
      reason: "bench: answer signing cost",
      approvals: [],
      output: { mode: "inline" },
    };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid: "k1" })
      .sign(privateKey);
  };
  const pass = async (app: typeof signed, verifyIt: boolean, jwss: string[]) => {
    const t = performance.now();
    for (const jws of jwss) {
      const res = await app.inject({
        method: "POST",
        url: "/v1/requests",
        headers: { "content-type": "application/jwt" },
        payload: jws,
      });
      const result = JSON.parse(res.payload) as { requestId: string };
      if (res.statusCode !== 200) throw new Error(`the agent answered ${res.statusCode}: ${res.payload}`);
      let stored: unknown = result;
      if (verifyIt) {
        const outcome = verifyAnswer(
          { ok: true, status: 200, result },
          {
            jti: result.requestId,
            agent: "bench/agent-0",
            action: "process-info",
            publicKey: identity.jwk.x,
          },
          "inline",
        );
        if (!outcome.ok) throw new Error(`the answer did not verify: ${outcome.message}`);
        stored = outcome.result;
      }
      // What the controller does with every result either way: the digest its audit record carries.
      createHash("sha256").update(canonicalJson(stored)).digest("hex");
    }
    return (performance.now() - t) / jwss.length;
  };
  const withTimes: number[] = [];
  const withoutTimes: number[] = [];
  await pass(signed, true, await Promise.all(Array.from({ length: 50 }, envelope))); // warm-up
  await pass(unsigned, false, await Promise.all(Array.from({ length: 50 }, envelope)));
  for (let round = 0; round < rounds; round++) {
    const a = await Promise.all(Array.from({ length: n }, envelope));
    const b = await Promise.all(Array.from({ length: n }, envelope));
    if (round % 2 === 0) {
      withoutTimes.push(await pass(unsigned, false, a));
      withTimes.push(await pass(signed, true, b));
    } else {
      withTimes.push(await pass(signed, true, a));
      withoutTimes.push(await pass(unsigned, false, b));
    }
  }
  // The signature's own cost, alone: sign an answer and verify it, as the two ends do.
  const sample = JSON.parse(
    (
      await signed.inject({
        method: "POST",
        url: "/v1/requests",
        headers: { "content-type": "application/jwt" },
        payload: await envelope(),
      })
    ).payload,
  ) as InlineResult & { signature?: string };
  const { signature: _s, ...answer } = sample;
  const signer = new AnswerSigner(identity);
  const m = 2000;
  const t = performance.now();
  for (let i = 0; i < m; i++) {
    const text = signer.inline(answer);
    const outcome = verifyAnswer(
      { ok: true, status: 200, result: JSON.parse(text) },
      { jti: answer.requestId, agent: answer.agent, action: answer.action, publicKey: identity.jwk.x },
      "inline",
    );
    if (!outcome.ok) throw new Error("verify failed");
  }
  const alone = (performance.now() - t) / m;
  await Promise.all([signed.close(), unsigned.close()]);
  const withSigning = median(withTimes);
  const without = median(withoutTimes);
  const ratio = withSigning / without;
  return {
    name: "signed answers: a request with the agent signing and the controller verifying, vs without",
    value: `${(withSigning * 1000).toFixed(0)} µs per process-info request (agent HTTP face, action, answer, controller parse + digest + signature check)`,
    reference: `${(without * 1000).toFixed(0)} µs for the same path unsigned`,
    ratio,
    goal: "≤ 1.15×",
    met: ratio <= 1.15,
    extra: `signing + verifying one answer alone (sign, canonical digest twice, Ed25519 verify): ${(alone * 1000).toFixed(0)} µs`,
  };
}
