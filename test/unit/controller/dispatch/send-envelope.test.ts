/**
 * sendEnvelope's endings that happen after the answer's head: a body over the limit, a body cut off,
 * a body that stalls past the deadline, a body that is not JSON. A real HTTP server on loopback
 * plays the misbehaving agent.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { sendEnvelope } from "../../../../controller/dispatch/send-envelope.js";
import { REQUEST_CONTENT_TYPE } from "../../../../protocol/request.js";

/** What each answer must name: the envelope's jti and the agent's id. */
const NAMED = { jti: "jti-0123456789abcdef", agent: "staging/shop/shop-0" };
const ANSWER = JSON.stringify({ requestId: NAMED.jti, agent: NAMED.agent, result: { pid: 42 } });

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function agentAnswering(handler: RequestListener): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix/`;
}

describe("sendEnvelope", () => {
  it("posts the envelope to <base>/v1/requests with the JWS content type and reads the JSON answer", async () => {
    let seen: { url?: string; type?: string; body: string } = { body: "" };
    const url = await agentAnswering((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen = { url: req.url, type: req.headers["content-type"], body };
        res.writeHead(200, { "content-type": "application/json" }).end(ANSWER);
      });
    });
    const outcome = await sendEnvelope(url, "a.b.c", { timeoutMs: 2000, maxBytes: 1024, expect: NAMED });
    expect(outcome).toEqual({ ok: true, status: 200, result: JSON.parse(ANSWER) });
    expect(seen).toEqual({ url: "/prefix/v1/requests", type: REQUEST_CONTENT_TYPE, body: "a.b.c" });
  });

  it("gives up on an answer longer than maxBytes with KH_AGENT_BAD_RESPONSE", async () => {
    const url = await agentAnswering((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`"${"x".repeat(64 * 1024)}"`);
    });
    const outcome = await sendEnvelope(url, "a.b.c", { timeoutMs: 2000, maxBytes: 1024, expect: NAMED });
    expect(outcome).toMatchObject({ ok: false, code: "KH_AGENT_BAD_RESPONSE" });
    expect(outcome.ok || outcome.message).toBe("the agent's answer exceeds 1024 bytes");
  });

  it("reports an answer cut off mid-body as KH_AGENT_UNREACHABLE, not as a short answer", async () => {
    const url = await agentAnswering((req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"pid":');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const outcome = await sendEnvelope(url, "a.b.c", { timeoutMs: 2000, maxBytes: 1024, expect: NAMED });
    expect(outcome).toMatchObject({ ok: false, code: "KH_AGENT_UNREACHABLE" });
  });

  it("times out with KH_AGENT_TIMEOUT when the head arrives but the body stalls", async () => {
    const url = await agentAnswering((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"pid":');
    });
    const started = Date.now();
    const outcome = await sendEnvelope(url, "a.b.c", { timeoutMs: 300, maxBytes: 1024, expect: NAMED });
    expect(outcome).toEqual({
      ok: false,
      code: "KH_AGENT_TIMEOUT",
      message: "the agent did not answer within 300 ms",
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("fails with KH_AGENT_BAD_RESPONSE when a 200 answer is not JSON", async () => {
    const url = await agentAnswering((_req, res) => res.writeHead(200).end("<html>"));
    const outcome = await sendEnvelope(url, "a.b.c", { timeoutMs: 2000, maxBytes: 1024, expect: NAMED });
    expect(outcome).toEqual({
      ok: false,
      status: 200,
      code: "KH_AGENT_BAD_RESPONSE",
      message: "the agent answered HTTP 200 with a body that is not JSON",
    });
  });

  it("does not follow a redirect: a 302 is not a coded answer", async () => {
    const url = await agentAnswering((_req, res) =>
      res.writeHead(302, { location: "http://169.254.169.254/" }).end("{}"),
    );
    const outcome = await sendEnvelope(url, "a.b.c", { timeoutMs: 2000, maxBytes: 1024, expect: NAMED });
    expect(outcome).toMatchObject({ ok: false, status: 302, code: "KH_AGENT_BAD_RESPONSE" });
  });
});
