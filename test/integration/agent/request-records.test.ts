/**
 * The agent's request records: one structured line per request it receives, accepted or refused,
 * with the request id, subject, action, outcome code, duration and bytes out. A streamed answer's
 * line is written once its last byte is out, with the bytes actually sent.
 */
import type { AddressInfo } from "node:net";
import { Readable, Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ACTIONS } from "../../../agent/actions/index.js";
import { type ActionDefinition, defineAction, StreamedResult } from "../../../agent/actions/types.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { postEnvelope } from "../../helpers/post-envelope.js";
import { startWorkload, type Workload } from "../../helpers/workload.js";

const lines: Record<string, unknown>[] = [];
let signer: TestSigner;
let workload: Workload;
let app: FastifyInstance;
let port: number;

const chunks = defineAction({
  name: "chunks",
  description: "streams n chunks of 1000 bytes",
  params: z.strictObject({ n: z.number().int().min(0).max(100) }),
  outputs: ["stream"],
  limits: { timeoutMs: 2000, maxConcurrency: 2, maxOutputBytes: 1_000_000 },
  run: async ({ n }) => {
    let sent = 0;
    const stream = new Readable({
      read() {
        if (sent === n) this.push(null);
        else setImmediate(() => this.push(Buffer.alloc(1000, sent++)));
      },
    });
    return new StreamedResult(stream, "application/octet-stream", "chunks.bin");
  },
});

const records = () => lines.filter((l) => l.msg === "request served" || l.msg === "request refused");

async function read(res: AsyncIterable<Buffer>): Promise<number> {
  let bytes = 0;
  for await (const chunk of res) bytes += chunk.length;
  return bytes;
}

beforeAll(async () => {
  signer = await makeSigner();
  workload = await startWorkload({ NODE_ENV: "test" });
  const config = loadAgentConfig(
    {
      id: "staging/shop/shop-0",
      environment: "staging",
      trustedKeys: "unused",
      target: String(workload.pid),
      actions: "process-info,chunks",
    },
    {},
  );
  app = buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry: new Map<string, ActionDefinition>([...ACTIONS, ["chunks", chunks as ActionDefinition]]),
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 1) }),
    logger: pino(
      { level: "info" },
      new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
          done();
        },
      }),
    ),
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app?.close();
  await workload?.stop();
});

describe("one record per request", () => {
  it("an accepted inline request: id, subject, action, ok, duration and the exact bytes sent", async () => {
    lines.length = 0;
    const claims = claimsFor({ action: "process-info" });
    const res = await postEnvelope(port, await signer.sign(claims));
    const bytes = await read(res);
    expect(res.statusCode).toBe(200);
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({
      requestId: claims.jti,
      sub: "user:alice@example.com",
      action: "process-info",
      outcome: "ok",
      bytesOut: bytes,
    });
    expect(records()[0]!.durationMs).toBeGreaterThan(0);
  });

  it("a streamed answer: the record is written after the last byte, with the bytes streamed", async () => {
    lines.length = 0;
    const claims = claimsFor({ action: "chunks", params: { n: 40 }, output: { mode: "stream" } });
    const res = await postEnvelope(port, await signer.sign(claims));
    // The head has arrived, the body has not been read: nothing is recorded yet.
    expect(records()).toHaveLength(0);
    const bytes = await read(res);
    await new Promise((resolve) => setImmediate(resolve));
    expect(bytes).toBe(40_000);
    expect(records()).toEqual([
      expect.objectContaining({ requestId: claims.jti, action: "chunks", outcome: "ok", bytesOut: 40_000 }),
    ]);
  });

  it("refusals after the signature verified name who asked for what, with their code", async () => {
    lines.length = 0;
    const disabled = claimsFor({ action: "env" });
    await read(await postEnvelope(port, await signer.sign(disabled)));
    const replayed = await signer.sign(claimsFor({ action: "process-info" }));
    await read(await postEnvelope(port, replayed));
    await read(await postEnvelope(port, replayed));
    expect(records().map((r) => [r.outcome, r.sub, r.action, r.bytesOut])).toEqual([
      ["KH_ACTION_DISABLED", "user:alice@example.com", "env", 0],
      ["ok", "user:alice@example.com", "process-info", expect.any(Number)],
      ["KH_REPLAY", "user:alice@example.com", "process-info", 0],
    ]);
    expect(records()[0]!.requestId).toBe(disabled.jti);
  });

  it("a refusal before any signature is still one line, with the HTTP request id and its code", async () => {
    lines.length = 0;
    await read(await postEnvelope(port, "not.a.jws!"));
    const [line] = records();
    expect(records()).toHaveLength(1);
    expect(line).toMatchObject({ outcome: "KH_MALFORMED", bytesOut: 0 });
    expect(line!.reqId).toBeTruthy();
    expect(line!.sub).toBeUndefined();
  });
});
