/**
 * Issue 20: an answer larger than what the NATS server carries (its max_payload) is replaced by a
 * coded `413 KH_TOO_LARGE` naming the s3 output, instead of an answer the server would refuse and
 * the controller would only see as a timeout. A real nats-server with max_payload 2 KiB, a real
 * agent on it, envelopes signed with the stack's key.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { CompactSign } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGNATURE_HEADER } from "../../../protocol/answer.js";
import { agentSubject, NATS_STATUS_HEADER } from "../../../protocol/nats.js";
import { REQUEST_ALG, REQUEST_TYP } from "../../../protocol/request.js";
import { claimsFor } from "../../helpers/envelope.js";
import { NatsServer } from "../../helpers/nats-server.js";
import { Stack } from "../../helpers/stack.js";

const ID = "staging/shop/small";
const stack = new Stack("nats-max-payload");
let nats: NatsServer;
let nc: NatsConnection;
let key: KeyObject;
let kid: string;

beforeAll(async () => {
  nats = await NatsServer.start({ config: stack.write("small.conf", "max_payload: 4096\n") });
  stack.onStop(() => nats.stop());
  // Secrets make the env answer large; process-info stays small.
  await stack.startWorkload({ FILLER: "x".repeat(8000) });
  await stack.startAgent({ id: ID, environment: "staging", connect: nats.url });
  key = createPrivateKey(readFileSync(stack.path("keys", "staging", "signing-key.pem"), "utf8"));
  kid = JSON.parse(readFileSync(stack.path("keys", "staging", "jwks.json"), "utf8")).keys[0].kid;
  nc = await connect({ servers: nats.url });
  stack.onStop(() => nc.close());
}, 60_000);

afterAll(async () => {
  await stack.stop();
});

async function ask(action: string) {
  const jws = await new CompactSign(
    new TextEncoder().encode(JSON.stringify(claimsFor({ action }, { agentId: ID }))),
  )
    .setProtectedHeader({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid } as never)
    .sign(key);
  const msg = await nc.request(agentSubject(ID), jws, { timeout: 10_000 });
  return {
    status: Number(msg.headers?.get(NATS_STATUS_HEADER)),
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
    body: JSON.parse(new TextDecoder().decode(msg.data)) as any,
    bytes: msg.data.length,
    signature: msg.headers?.get(SIGNATURE_HEADER) ?? "",
  };
}

describe("issue 20: answers above the NATS server's max_payload", () => {
  it("a small answer goes through; a large one is answered 413 KH_TOO_LARGE, pointing at the s3 output", async () => {
    const small = await ask("process-info");
    expect(small.status).toBe(200);
    const large = await ask("env");
    expect(large.status).toBe(413);
    expect(large.body.error.code).toBe("KH_TOO_LARGE");
    expect(large.body.error.message).toMatch(/max_payload 4096.*s3 output/);
    expect(large.bytes).toBeLessThan(4096);
    // The transport's own refusal is signed like every answer (issue 21): the controller would
    // otherwise record it as KH_AGENT_UNVERIFIED.
    expect(large.signature).toMatch(/^[\w-]+\.[\w-]*\.[\w-]+$/);
  });
});
