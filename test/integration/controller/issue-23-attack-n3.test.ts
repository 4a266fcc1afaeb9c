/**
 * Issue 23 attack, N3: one rogue agent blocked every inline result in every environment. It answered
 * 200 naming the envelope, declared `content-length: 16777206`, wrote `{` and stalled; four requests at
 * it reserved the whole 64 MiB budget, and every other inline request failed `KH_BUSY` for the
 * dispatch timeout. Now bytes are taken from the budget only as they arrive, one agent (and one
 * requester) holds at most a share of it, and a body that stalls is dropped and gives its bytes back.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InlineBudget } from "../../../controller/dispatch/inline-budget.js";
import { sendEnvelope } from "../../../controller/dispatch/send-envelope.js";
import { AGENT_HEADER, REQUEST_ID_HEADER } from "../../../protocol/request.js";
import { type Harness, startHarness } from "./helpers.js";

/** The rogue agent: names the envelope, declares 16 MiB, sends `{` and holds the connection. */
async function holdingAgent(id: string): Promise<{ url: string; held: ServerResponse[]; server: Server }> {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const claims = decodeJwt(body);
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": "16777206",
        [REQUEST_ID_HEADER]: String(claims.jti),
        [AGENT_HEADER]: id,
      });
      res.write("{");
      held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, held, server };
}

describe("issue 23 attack N3: one agent cannot starve every inline result", () => {
  let h: Harness;
  let rogue: Awaited<ReturnType<typeof holdingAgent>>;
  beforeAll(async () => {
    rogue = await holdingAgent("staging/fake/hold");
    h = await startHarness({
      environments: ["production", "staging"],
      extraInventory: `- { id: staging/fake/hold, environment: staging, url: "${rogue.url}", labels: { app: fake } }\n`,
    });
  });
  afterAll(async () => {
    rogue?.server.closeAllConnections();
    await new Promise((resolve) => rogue?.server.close(resolve));
    await h?.close();
  });

  it("issue 23 attack N3: four stalled 16 MiB answers from one agent leave other inline results running", async () => {
    const mallory = await h.token("user:mallory@example.com", ["sre"]);
    const carol = await h.token("user:carol@example.com", ["sre"]);
    for (let i = 0; i < 4; i++) {
      const held = await h.call(mallory, "POST", "/v1/requests", {
        action: "process-info",
        target: "staging/fake/hold",
        reason: `N3 hold ${i}`,
      });
      expect(held.status).toBe(201);
    }
    const deadline = Date.now() + 5000;
    while (rogue.held.length < 4 && Date.now() < deadline) await sleep(20);
    expect(rogue.held).toHaveLength(4);
    // What the rogue answers hold is what they sent, not what they declared.
    expect(h.controller.dispatcher.inlineBudget.inUse).toBeLessThan(1024);

    const created = await h.call(carol, "POST", "/v1/requests", {
      action: "process-info",
      target: "staging/shop/shop-0",
      reason: "N3 victim",
    });
    const id = created.json.request.id as string;
    let status = "";
    while (Date.now() < deadline + 5000) {
      status = (await h.controller.store.getRequest(id))?.status ?? "";
      if (status === "completed" || status === "failed") break;
      await sleep(20);
    }
    expect((await h.controller.store.getRequest(id))?.error).toBeUndefined();
    expect(status).toBe("completed");
  });

  it("issue 23 attack N3: an agent's share of the budget is bounded, and a stalled answer gives its bytes back", async () => {
    const budget = new InlineBudget(64, 16);
    const a = budget.lease({ agent: "a", requester: "user:m" });
    expect(a.take(16)).toBe(true);
    expect(budget.lease({ agent: "a", requester: "user:x" }).take(1)).toBe(false);
    expect(budget.lease({ agent: "b", requester: "user:m" }).take(16)).toBe(true);
    // A third agent of the same requester passes the requester's half.
    expect(budget.lease({ agent: "c", requester: "user:m" }).take(1)).toBe(false);
    expect(budget.lease({ agent: "d", requester: "user:carol" }).take(16)).toBe(true);
    a.release();
    expect(budget.lease({ agent: "a", requester: "user:x" }).take(16)).toBe(true);

    // A real HTTP answer that stalls after one byte is dropped, and its lease holds nothing.
    const lease = new InlineBudget(1024 * 1024).lease({ agent: "staging/fake/hold" });
    const started = Date.now();
    const outcome = await sendEnvelope(rogue.url, "eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.", {
      timeoutMs: 30_000,
      maxBytes: 16 * 1024 * 1024 + 16,
      lease,
      expect: { jti: "x", agent: "staging/fake/hold" },
      stallMs: 200,
    });
    expect(outcome).toMatchObject({ ok: false, code: "KH_AGENT_TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(5000);
    lease.release();
    expect(lease.held).toBe(0);
  });
});
