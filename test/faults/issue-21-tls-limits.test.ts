/**
 * Issue 21: the limits against slow clients hold over TLS too. Fastify hands its `http` server
 * options (header timeout, how often slow connections are checked) only to a plain HTTP server, so
 * common/tls-server.ts carries them into the HTTPS server's, and bounds the TLS handshake alike: a
 * client that opens TCP and never says hello, or trickles its head over TLS, is cut within the
 * shortened limits below (the defaults would hold it for minutes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS } from "../../agent/actions/index.js";
import { buildApp as buildAgentApp } from "../../agent/app.js";
import { loadAgentConfig } from "../../agent/config.js";
import { createRedactor } from "../../agent/redact/index.js";
import { readTlsFiles, type TlsMaterial } from "../../common/tls-files.js";
import { buildApp as buildControllerApp } from "../../controller/app.js";
import type { RequestService } from "../../controller/requests/service.js";
import { makeSigner } from "../helpers/envelope.js";
import { issueCert, makeCa } from "../helpers/tls-certs.js";

const LIMITS = {
  headersTimeoutMs: 300,
  requestTimeoutMs: 600,
  keepAliveTimeoutMs: 300,
  idleTimeoutMs: 5000,
  maxHeaderBytes: 8192,
};

let dir: string;
let tls: TlsMaterial;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyhole-tls-limits-"));
  const ca = makeCa(dir, "limits");
  const leaf = issueCert(dir, ca, "server", ["127.0.0.1"]);
  tls = readTlsFiles({ cert: leaf.cert, key: leaf.key, ca: ca.cert });
});

afterAll(async () => {
  for (const app of apps) await app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function agentPort(): Promise<number> {
  const signer = await makeSigner();
  const config = loadAgentConfig(
    { id: "staging/shop/shop-0", environment: "staging", trustedKeys: "unused", target: String(process.pid) },
    {},
  );
  const app = buildAgentApp(
    { ...config, httpLimits: LIMITS },
    {
      trustedKeys: signer.trustedKeys,
      registry: ACTIONS,
      redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
      logger: false,
      tls,
    },
  );
  return listen(app);
}

async function controllerPort(): Promise<number> {
  const app = buildControllerApp({
    authenticator: { authenticate: async () => undefined },
    requests: {} as RequestService,
    httpLimits: LIMITS,
    tls: { cert: tls.cert!, key: tls.key! },
  });
  return listen(app);
}

async function listen(app: FastifyInstance): Promise<number> {
  apps.push(app);
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  expect(url).toMatch(/^https:/);
  return Number(new URL(url).port);
}

/** Milliseconds until the server closes a TCP connection that never starts TLS. */
function silentTcp(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = tcpConnect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("the server kept a connection without a TLS hello open"));
    }, 8000);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

/** Over TLS, sends a request head one byte every 100 ms; what the server answered before closing. */
function trickledHead(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca: tls.ca, servername: "127.0.0.1" });
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept a trickling client for 8 s; got: ${answer}`));
    }, 8000);
    socket.on("data", (chunk) => (answer += String(chunk)));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.once("secureConnect", () => {
      const head = "POST /v1/requests HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
      let i = 0;
      const tick = setInterval(() => {
        if (socket.destroyed || i >= head.length) return clearInterval(tick);
        socket.write(head[i++]!);
      }, 100);
    });
  });
}

describe.each([
  ["agent", agentPort],
  ["controller", controllerPort],
] as const)("the %s over HTTPS", (_, start) => {
  it("cuts a connection that never finishes its TLS handshake", async () => {
    expect(await silentTcp(await start())).toBeLessThan(3000);
  });

  it("answers a client trickling its head with a coded 408", async () => {
    const answer = await trickledHead(await start());
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"KH_REQUEST_TIMEOUT"');
  });
});
