/**
 * The errors a real database gives when it goes away are the ones the controller answers as
 * `503 KH_STORE_UNAVAILABLE` (nothing recorded, retry safe) and rides out when writing an agent's
 * answer: PostgreSQL refusing connections, and a session killed under a client (as a failover or
 * a restart does), on the real server at 127.0.0.1:5432; SQLite locked past its busy timeout is in
 * store-unavailable.test.ts. A constraint violation is not "unavailable".
 */
import { createServer } from "node:net";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { isStoreUnavailable } from "../../controller/store/unavailable.js";

const URL = "postgres://postgres@127.0.0.1:5432/test";

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("database errors classified as unavailable", () => {
  it("a refused connection is unavailable", async () => {
    const client = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/test`,
    });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(isStoreUnavailable(err)).toBe(true);
  });

  it("a session terminated under the client is unavailable; a constraint violation is not", async () => {
    const victim = new pg.Client({ connectionString: URL });
    const admin = new pg.Client({ connectionString: URL });
    victim.on("error", () => {});
    await victim.connect();
    await admin.connect();
    try {
      const notUnavailable = await admin.query("SELECT 1/0").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreUnavailable(notUnavailable)).toBe(false);
      const { rows } = await victim.query("SELECT pg_backend_pid() AS pid");
      await admin.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
      const err = await victim.query("SELECT 1").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeDefined();
      expect(isStoreUnavailable(err)).toBe(true);
    } finally {
      await admin.end();
      await victim.end().catch(() => {});
    }
  });
});
