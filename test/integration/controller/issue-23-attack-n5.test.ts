/**
 * Issue 23 attack, N5: the PostgreSQL state-machine triggers counted `FROM approvals` through the
 * session's search_path, which searches pg_temp first: a temporary `approvals` table with two rows
 * let `UPDATE requests SET status='approved'` pass. The trigger functions now run with a pinned
 * search_path (their schema, then pg_temp), so the count reads the real table.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./helpers.js";

describe("issue 23 attack N5: the PostgreSQL triggers cannot be fooled with a temporary table", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: "postgres" });
  });
  afterAll(async () => h?.close());

  async function asRuntimeRole(sql: (client: pg.Client) => Promise<void>): Promise<void> {
    const client = new pg.Client({ connectionString: h.database });
    await client.connect();
    try {
      await sql(client);
    } finally {
      await client.end();
    }
  }

  it("issue 23 attack N5: a temporary approvals table does not count for the request trigger", async () => {
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const created = await h.call(alice, "POST", "/v1/requests", {
      action: "process-info",
      target: "restricted/shop/shop-0",
      reason: "N5",
    });
    const id = created.json.request.id as string;
    let refused: Error | undefined;
    await asRuntimeRole(async (client) => {
      await client.query("CREATE TEMP TABLE approvals (request_id TEXT)");
      await client.query("INSERT INTO pg_temp.approvals VALUES ($1), ($1)", [id]);
      await client
        .query("UPDATE requests SET status = 'approved' WHERE id = $1", [id])
        .catch((err: Error) => {
          refused = err;
        });
    });
    expect(refused?.message).toMatch(/state machine/);
    expect((await h.controller.store.getRequest(id))?.status).toBe("pending");
  });

  it("issue 23 attack N5: a temporary collection_approvals table does not count for the collection trigger", async () => {
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const created = await h.call(alice, "POST", "/v1/collections", {
      action: "process-info",
      environment: "restricted",
      selector: "app=shop",
      reason: "N5",
    });
    expect(created.status).toBe(201);
    const id = created.json.collection.id as string;
    let refused: Error | undefined;
    await asRuntimeRole(async (client) => {
      await client.query("CREATE TEMP TABLE collection_approvals (collection_id TEXT)");
      await client.query("INSERT INTO pg_temp.collection_approvals VALUES ($1), ($1)", [id]);
      await client
        .query("UPDATE collections SET status = 'approved' WHERE id = $1", [id])
        .catch((err: Error) => {
          refused = err;
        });
    });
    expect(refused?.message).toMatch(/state machine/);
  });
});
