/**
 * Agent verification of one request vs a bare `crypto.verify` of the same bytes (goal ≤ 1.5×).
 * Both loops go over the same N distinct envelopes, interleaved over several rounds; the ratio of
 * the medians is reported.
 */
import { generateKeyPairSync, verify } from "node:crypto";
import { CompactSign, exportJWK } from "jose";
import { ACTIONS } from "../agent/actions/index.js";
import { ReplayCache } from "../agent/replay-cache.js";
import { parseTrustedKeys } from "../agent/trusted-keys.js";
import { verifyEnvelope } from "../agent/verify.js";
import { REQUEST_ALG, REQUEST_TYP } from "../protocol/request.js";
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
