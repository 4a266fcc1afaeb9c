/**
 * The controller on PostgreSQL when the database goes away and comes back. The controller reaches
 * the test server through a TCP proxy on loopback that the test cuts (every connection ended, new
 * ones refused) and restores, as a failover or a network partition would look to it.
 */

import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createTestSchema, TEST_POSTGRES_URL, type TestSchema } from "../../helpers/postgres.js";
import { type Harness, startHarness } from "./helpers.js";
import { expectLinearChain } from "./store-contract.js";

/** A loopback TCP proxy to the test PostgreSQL that can be cut and restored on the same port. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  /** Listens (again, on the same port once it has one); a no-op while listening. */
  async start(): Promise<void> {
    if (this.server) return;
    const upstream = new URL(TEST_POSTGRES_URL);
    const server = createServer((client) => {
      const server = connect(Number(upstream.port || 5432), upstream.hostname);
      for (const s of [client, server]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Ends every connection and refuses new ones. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}

describe("PostgreSQL outage", () => {
  let h: Harness | undefined;
  let schema: TestSchema | undefined;
  let proxy: CuttableProxy | undefined;
  afterEach(async () => {
    await proxy?.start().catch(() => {}); // closing needs the database back
    await h?.close();
    await proxy?.stop();
    await schema?.drop();
    h = undefined;
    schema = undefined;
    proxy = undefined;
  });

  it("answers 503 KH_STORE_UNAVAILABLE while the database is gone, records nothing, and recovers", async () => {
    schema = await createTestSchema();
    proxy = new CuttableProxy();
    await proxy.start();
    const proxied = new URL(schema.url);
    proxied.port = String(proxy.port);
    h = await startHarness({ config: { database: proxied.toString() } });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const file = (reason: string) =>
      h!.call(alice, "POST", "/v1/requests", { action: "env", target: "staging/shop/shop-0", reason });
    expect((await file("before")).status).toBe(201);
    await h.controller.dispatcher.whenIdle();
    const before = await h.controller.store.listAudit();

    await proxy.cut();
    for (const attempt of [() => file("during"), () => h!.call(alice, "GET", "/v1/requests")]) {
      const answer = await attempt();
      expect(answer.status, JSON.stringify(answer.json)).toBe(503);
      expect(answer.json.error.code).toBe("KH_STORE_UNAVAILABLE");
    }

    await proxy.start();
    const after = await file("after");
    expect(after.status, JSON.stringify(after.json)).toBe(201);
    await h.controller.dispatcher.whenIdle();
    expect((await h.call(alice, "GET", `/v1/requests/${after.json.request.id}`)).json.request.status).toBe(
      "completed",
    );
    // Nothing of the refused request was written; the chain goes on from where it was, in one line.
    const audit = await h.controller.store.listAudit();
    expect(audit.slice(0, before.length)).toEqual(before);
    expect(audit.filter((r) => r.reason === "during")).toEqual([]);
    expect(audit.filter((r) => r.event === "request.created").map((r) => r.reason)).toEqual([
      "before",
      "after",
    ]);
    expectLinearChain(audit);
  });
});
