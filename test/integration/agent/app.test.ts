import { request as httpRequest } from "node:http";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ACTIONS } from "../../../agent/actions/index.js";
import { type ActionDefinition, defineAction } from "../../../agent/actions/types.js";
import { buildApp } from "../../../agent/app.js";
import { loadAgentConfig } from "../../../agent/config.js";
import { createRedactor } from "../../../agent/redact/index.js";
import { claimsFor, makeSigner, type TestSigner } from "../../helpers/envelope.js";
import { startWorkload, type Workload } from "../../helpers/workload.js";

const AGENT_ID = "staging/shop/shop-0";
const SECRET = "s3cr3t-value-for-the-agent-test";

let signer: TestSigner;
let workload: Workload;
let app: FastifyInstance;
let logLines: Record<string, unknown>[];

// Test-only actions that count their runs, so a test can prove a refusal ran nothing.
const runs = { counted: 0, slow: 0, aborted: 0 };
const counted = defineAction({
  name: "counted",
  description: "counts runs",
  params: z.strictObject({}),
  limits: { timeoutMs: 1000, maxConcurrency: 4, maxOutputBytes: 1000 },
  run: async () => {
    runs.counted++;
    return { ran: true };
  },
});
const slow = defineAction({
  name: "slow",
  description: "waits until aborted or 400 ms",
  params: z.strictObject({ ms: z.number().int().max(5000) }),
  limits: { timeoutMs: 300, maxConcurrency: 1, maxOutputBytes: 1000 },
  run: (params, ctx) =>
    new Promise((resolve) => {
      runs.slow++;
      const timer = setTimeout(() => resolve({ waited: params.ms }), params.ms);
      ctx.signal.addEventListener("abort", () => {
        runs.aborted++;
        clearTimeout(timer);
      });
    }),
});
const huge = defineAction({
  name: "huge",
  description: "returns more than its cap",
  params: z.strictObject({}),
  limits: { timeoutMs: 1000, maxConcurrency: 1, maxOutputBytes: 100 },
  run: async () => ({ data: "x".repeat(1000) }),
});

function build(target: string, extra: Record<string, unknown> = {}): FastifyInstance {
  const config = loadAgentConfig({ id: AGENT_ID, environment: "staging", trustedKeys: "unused", target }, {});
  const registry = new Map<string, ActionDefinition>([
    ...ACTIONS,
    ["counted", counted as ActionDefinition],
    ["slow", slow as ActionDefinition],
    ["huge", huge as ActionDefinition],
  ]);
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  return buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: pino({ level: "info" }, sink),
    ...extra,
  });
}

async function send(body: string, contentType = "application/jwt", target = app) {
  const res = await target.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { "content-type": contentType },
    body,
  });
  // biome-ignore lint/suspicious/noExplicitAny: each test checks the fields it reads
  return { status: res.statusCode, json: res.json() as Record<string, any> };
}

beforeAll(async () => {
  signer = await makeSigner();
  workload = await startWorkload({ DEMO_API_KEY: SECRET, NODE_ENV: "test" });
  logLines = [];
  app = build(String(workload.pid));
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await workload?.stop();
});

describe("agent HTTP: accepted requests", () => {
  it("process-info answers facts of the real target process", async () => {
    const { status, json } = await send(await signer.sign(claimsFor({ action: "process-info" })));
    expect(status).toBe(200);
    expect(json.agent).toBe(AGENT_ID);
    expect(json.action).toBe("process-info");
    expect(json.result.pid).toBe(workload.pid);
    expect(json.result.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(json.result.threads).toBeGreaterThan(1);
  });

  it("env masks the secret inside the agent; the raw value never appears in the answer", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/requests",
      headers: { "content-type": "application/jwt" },
      body: await signer.sign(claimsFor({ action: "env" })),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain(SECRET);
    const vars = res.json().result.variables as { name: string; value: string; masked: boolean }[];
    expect(vars.find((v) => v.name === "DEMO_API_KEY")?.masked).toBe(true);
    expect(vars.find((v) => v.name === "NODE_ENV")).toMatchObject({ value: "test", masked: false });
  });

  it("writes one structured log line per request, with subject, action and outcome, never the envelope", async () => {
    logLines.length = 0;
    const jws = await signer.sign(claimsFor({ action: "counted", ticket: "INC-9" }));
    await send(jws);
    await send(jws);
    const served = logLines.filter((l) => l.msg === "request served" || l.msg === "request refused");
    expect(served).toHaveLength(2);
    expect(served[0]).toMatchObject({
      sub: "user:alice@example.com",
      action: "counted",
      outcome: "ok",
      ticket: "INC-9",
    });
    expect(served[1]).toMatchObject({ outcome: "KH_REPLAY" });
    expect(JSON.stringify(logLines)).not.toContain(jws.split(".")[2]);
  });

  it("GET /healthz reveals nothing", async () => {
    const res = await app.inject({ method: "GET", url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
    expect(res.body).not.toContain(AGENT_ID);
    expect(res.body).not.toContain("staging");
  });
});

describe("agent HTTP: refusals are coded 4xx and run nothing", () => {
  it.each([
    ["malformed JWS", () => "not-a-jws", "application/jwt", 400, "KH_MALFORMED"],
    ["empty body", () => "", "application/jwt", 400, "KH_MALFORMED"],
    ["JSON body", () => '{"action":"counted"}', "application/json", 415, "KH_UNSUPPORTED_MEDIA_TYPE"],
    ["text body", () => "hello", "text/plain", 415, "KH_UNSUPPORTED_MEDIA_TYPE"],
    ["oversized body", () => "a".repeat(70 * 1024), "application/jwt", 413, "KH_TOO_LARGE"],
  ])("%s → %i %s", async (_name, body, type, status, code) => {
    const before = runs.counted;
    const res = await send(body(), type);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
    expect(typeof res.json.error.message).toBe("string");
    expect(runs.counted).toBe(before);
  });

  it("each claim refusal answers its code and runs nothing", async () => {
    const before = runs.counted;
    const cases: [Record<string, unknown>, number, string][] = [
      [{ aud: "staging/shop/shop-9" }, 403, "KH_WRONG_AUDIENCE"],
      [{ env: "production" }, 403, "KH_WRONG_ENVIRONMENT"],
      [{ exp: Math.floor(Date.now() / 1000) - 1 }, 401, "KH_EXPIRED"],
      [
        { iat: Math.floor(Date.now() / 1000) + 120, exp: Math.floor(Date.now() / 1000) + 180 },
        401,
        "KH_NOT_YET_VALID",
      ],
      [{ exp: Math.floor(Date.now() / 1000) + 3600 }, 401, "KH_TTL_TOO_LONG"],
      [{ action: "heap-snapshot" }, 403, "KH_ACTION_DISABLED"],
      [{ params: { unexpected: true } }, 400, "KH_BAD_PARAMS"],
      [{ params: { unexpected: true }, extra: 1 }, 400, "KH_MALFORMED"],
    ];
    for (const [overrides, status, code] of cases) {
      const res = await send(await signer.sign(claimsFor({ action: "counted", ...overrides })));
      expect({ status: res.status, code: res.json.error?.code }).toEqual({ status, code });
    }
    const forged = await (await makeSigner(signer.kid)).sign(claimsFor({ action: "counted" }));
    expect((await send(forged)).json.error.code).toBe("KH_BAD_SIGNATURE");
    expect(runs.counted).toBe(before);
  });

  it("a replayed envelope is refused with 409 and runs once only", async () => {
    const before = runs.counted;
    const jws = await signer.sign(claimsFor({ action: "counted" }));
    expect((await send(jws)).status).toBe(200);
    const again = await send(jws);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("KH_REPLAY");
    expect(runs.counted).toBe(before + 1);
  });

  it("unknown routes and methods are coded 404s", async () => {
    for (const [method, url] of [
      ["GET", "/v1/requests"],
      ["GET", "/admin"],
      ["DELETE", "/v1/requests"],
    ] as const) {
      const res = await app.inject({ method, url });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe("KH_NOT_FOUND");
    }
  });

  it("a target that does not exist is KH_TARGET_NOT_FOUND, not a 5xx", async () => {
    const other = build("4194304999");
    const res = await send(
      await signer.sign(claimsFor({ action: "process-info" })),
      "application/jwt",
      other,
    );
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("KH_TARGET_NOT_FOUND");
    await other.close();
  });
});

describe("agent HTTP: action limits", () => {
  it("KH_BUSY past an action's concurrency, KH_TIMEOUT past its time limit (and the action is told to stop)", async () => {
    const abortedBefore = runs.aborted;
    const [first, second] = await Promise.all([
      send(await signer.sign(claimsFor({ action: "slow", params: { ms: 2000 } }))),
      (async () => {
        await new Promise((r) => setTimeout(r, 50));
        return send(await signer.sign(claimsFor({ action: "slow", params: { ms: 10 } })));
      })(),
    ]);
    expect(second.status).toBe(429);
    expect(second.json.error.code).toBe("KH_BUSY");
    expect(first.status).toBe(504);
    expect(first.json.error.code).toBe("KH_TIMEOUT");
    expect(runs.aborted).toBe(abortedBefore + 1);
    // The slot is released: the next one runs.
    expect((await send(await signer.sign(claimsFor({ action: "slow", params: { ms: 10 } })))).status).toBe(
      200,
    );
  });

  it("a result over the action's output cap is refused, not sent", async () => {
    const res = await send(await signer.sign(claimsFor({ action: "huge" })));
    expect(res.status).toBe(500);
    expect(res.json.error.code).toBe("KH_ACTION_FAILED");
    expect(JSON.stringify(res.json)).not.toContain("xxxxxxxxxx");
  });

  it("a client that disconnects cancels the running action", async () => {
    const live = build(String(workload.pid));
    await live.listen({ host: "127.0.0.1", port: 0 });
    const port = (live.server.address() as { port: number }).port;
    const abortedBefore = runs.aborted;
    const body = await signer.sign(claimsFor({ action: "slow", params: { ms: 250 } }));
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/requests",
        headers: { "content-type": "application/jwt" },
      });
      req.on("error", () => resolve());
      req.end(body);
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 80);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(runs.aborted).toBe(abortedBefore + 1);
    await live.close();
  });
});
