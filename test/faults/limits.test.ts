/**
 * Limits against slow, oversized and flooding clients, on real sockets on loopback:
 *
 * - both servers close a client that sends its head or body too slowly with a coded 408, an idle
 *   keep-alive connection after its timeout, and refuse an oversized head with a coded 431;
 * - the agent's replay cache is bounded: a flood of valid envelopes past its capacity is refused
 *   with KH_BUSY and runs nothing, forged envelopes never take a slot, and expired entries make
 *   room again.
 *
 * The timeouts are shortened here (the defaults are in agent/http-limits.ts and
 * controller/http/server-limits.ts); the mechanism is the same.
 */
import { connect, type Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS } from "../../agent/actions/index.js";
import type { ActionDefinition } from "../../agent/actions/types.js";
import { buildApp as buildAgentApp } from "../../agent/app.js";
import { loadAgentConfig } from "../../agent/config.js";
import { createRedactor } from "../../agent/redact/index.js";
import { buildApp as buildControllerApp } from "../../controller/app.js";
import type { RequestService } from "../../controller/requests/service.js";
import { claimsFor, makeSigner, type TestSigner } from "../helpers/envelope.js";

const LIMITS = {
  headersTimeoutMs: 300,
  requestTimeoutMs: 600,
  keepAliveTimeoutMs: 300,
  idleTimeoutMs: 5000,
  maxHeaderBytes: 8192,
};

let signer: TestSigner;
let runs = 0;

function counting(registry: ReadonlyMap<string, ActionDefinition>): Map<string, ActionDefinition> {
  return new Map(
    [...registry].map(([name, action]): [string, ActionDefinition] => [
      name,
      {
        ...action,
        run: (params, ctx) => {
          runs++;
          return action.run(params, ctx);
        },
      },
    ]),
  );
}

function agentApp(overrides: { replayCacheSize?: number; now?: () => number } = {}): FastifyInstance {
  const config = loadAgentConfig(
    {
      id: "staging/shop/shop-0",
      environment: "staging",
      trustedKeys: "unused",
      target: String(process.pid),
      ...(overrides.replayCacheSize ? { replayCacheSize: String(overrides.replayCacheSize) } : {}),
    },
    {},
  );
  return buildAgentApp(
    { ...config, httpLimits: LIMITS },
    {
      trustedKeys: signer.trustedKeys,
      registry: counting(ACTIONS),
      redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
      logger: false,
      ...(overrides.now ? { now: overrides.now } : {}),
    },
  );
}

function controllerApp(): FastifyInstance {
  // Only the HTTP server layer is under test: no route is reached by these clients.
  return buildControllerApp({
    authenticator: { authenticate: async () => undefined },
    requests: {} as RequestService,
    httpLimits: LIMITS,
  });
}

interface Exchange {
  readonly answer: string;
  /** Milliseconds from connecting to the server closing the socket. */
  readonly closedAfterMs: number;
}

/** Connects, runs `talk`, and collects everything the server sends until it closes the socket. */
function exchange(port: number, talk: (socket: Socket) => void, giveUpMs = 8000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the socket open for ${giveUpMs} ms; got: ${answer.slice(0, 200)}`));
    }, giveUpMs);
    socket.on("data", (chunk) => {
      answer += String(chunk);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ answer, closedAfterMs: performance.now() - started });
    });
    socket.on("connect", () => talk(socket));
  });
}

/** Writes `text` one byte every `everyMs` until the socket closes. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

function codedBody(answer: string): { status: number; code: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  return { status, code: JSON.parse(body).error.code };
}

beforeAll(async () => {
  signer = await makeSigner();
});

describe.each([
  ["agent", () => agentApp(), "/v1/requests", "KH_MALFORMED", "application/jwt"],
  ["controller", () => controllerApp(), "/v1/requests", "KH_BAD_REQUEST", "application/json"],
] as const)(
  "%s HTTP limits against slow and oversized clients",
  (_name, build, path, badRequestCode, bodyType) => {
    let app: FastifyInstance;
    let port: number;
    beforeAll(async () => {
      app = build();
      await app.listen({ host: "127.0.0.1", port: 0 });
      port = (app.server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await app.close();
    });

    it("a head sent one byte at a time is cut at the headers timeout with a coded 408", async () => {
      const { answer, closedAfterMs } = await exchange(port, (s) =>
        trickle(s, `POST ${path} HTTP/1.1\r\nHost: x\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`, 50),
      );
      expect(codedBody(answer)).toEqual({ status: 408, code: "KH_REQUEST_TIMEOUT" });
      expect(closedAfterMs).toBeGreaterThan(LIMITS.headersTimeoutMs - 50);
      expect(closedAfterMs).toBeLessThan(LIMITS.headersTimeoutMs + 1500);
    });

    it("a body that stalls is cut at the request timeout (coded 408, or the route's earlier coded refusal)", async () => {
      const { answer, closedAfterMs } = await exchange(port, (s) =>
        s.write(
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${bodyType}\r\nContent-Length: 1000\r\n\r\n{"a":`,
        ),
      );
      // The agent waits for the envelope: 408. The controller refuses the missing token before
      // reading the body: that answer, then the socket is closed at the timeout all the same.
      const responses = answer.split(/(?=HTTP\/1\.1 )/);
      expect(responses).toHaveLength(1);
      expect(codedBody(answer)).toEqual(
        bodyType === "application/jwt"
          ? { status: 408, code: "KH_REQUEST_TIMEOUT" }
          : { status: 401, code: "KH_UNAUTHENTICATED" },
      );
      expect(closedAfterMs).toBeGreaterThan(LIMITS.requestTimeoutMs - 50);
      expect(closedAfterMs).toBeLessThan(LIMITS.requestTimeoutMs + 1500);
    });

    it("an idle keep-alive connection is closed after the keep-alive timeout", async () => {
      const { answer, closedAfterMs } = await exchange(port, (s) =>
        s.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"),
      );
      expect(answer).toMatch(/^HTTP\/1\.1 200/);
      expect(closedAfterMs).toBeLessThan(LIMITS.keepAliveTimeoutMs + 1500);
    });

    it("an oversized head is refused with a coded 431, and garbage with a coded 400", async () => {
      const big = await exchange(port, (s) =>
        s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`),
      );
      expect(codedBody(big.answer)).toEqual({ status: 431, code: "KH_HEADERS_TOO_LARGE" });
      const garbage = await exchange(port, (s) => s.write("\u0000\u0001NOT HTTP AT ALL\r\n\r\n"));
      expect(codedBody(garbage.answer)).toEqual({ status: 400, code: badRequestCode });
    });

    it("many slow clients at once are all cut; the server keeps answering others", async () => {
      const slow = Array.from({ length: 50 }, () =>
        exchange(port, (s) =>
          trickle(s, `POST ${path} HTTP/1.1\r\nHost: x\r\n${"X: y\r\n".repeat(100)}`, 40),
        ),
      );
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const results = await Promise.all(slow);
      expect(results.every((r) => codedBody(r.answer).status === 408)).toBe(true);
    });
  },
);

describe("the agent's replay cache under a flood", () => {
  const send = (app: FastifyInstance, body: string) =>
    app.inject({ method: "POST", url: "/v1/requests", headers: { "content-type": "application/jwt" }, body });

  it("refuses valid envelopes past its capacity with KH_BUSY (running nothing), never forgets one early, and makes room as entries expire", async () => {
    let clock = Date.now();
    const app = agentApp({ replayCacheSize: 16, now: () => clock });
    const nowSeconds = () => Math.floor(clock / 1000);
    const envelope = () => signer.sign(claimsFor({ action: "process-info" }, { nowSeconds: nowSeconds() }));

    const first = await envelope();
    for (let i = 0; i < 16; i++) {
      const res = await send(app, i === 0 ? first : await envelope());
      expect(res.statusCode).toBe(200);
    }
    const ranBefore = runs;
    const flood = await Promise.all(Array.from({ length: 500 }, envelope));
    const codes = new Set<string>();
    for (const body of flood) codes.add((await send(app, body)).json().error.code);
    expect([...codes]).toEqual(["KH_BUSY"]);
    expect(runs).toBe(ranBefore);
    // The first envelope is still remembered: full never means forgetting.
    expect((await send(app, first)).json().error.code).toBe("KH_REPLAY");

    // Past every entry's exp (60 s) plus the sweep interval, expired entries make room.
    clock += 62_000;
    const fresh = await send(app, await envelope());
    expect(fresh.statusCode).toBe(200);
    await app.close();
  });

  it("forged envelopes never take a slot: after 2,000 of them the cache still has room for valid ones", async () => {
    const app = agentApp({ replayCacheSize: 16 });
    const forger = await makeSigner(signer.kid); // same kid, another key: the signature fails
    const forged = await Promise.all(
      Array.from({ length: 2000 }, () => forger.sign(claimsFor({ action: "process-info" }))),
    );
    for (const body of forged) expect((await send(app, body)).statusCode).toBe(401);
    for (let i = 0; i < 16; i++) {
      const res = await send(app, await signer.sign(claimsFor({ action: "process-info" })));
      expect(res.statusCode).toBe(200);
    }
    await app.close();
  });
});
