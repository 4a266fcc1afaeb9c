/**
 * A private schema in the test PostgreSQL (127.0.0.1:5432, database `test`, trust auth; CI starts it
 * before the tests), so test files running in parallel never see each other's tables. The URL it
 * hands out selects the schema through libpq's `options=-c search_path=…`, which the controller
 * accepts as it is.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The server and database; KEYHOLE_TEST_POSTGRES_URL points the tests elsewhere. */
export const TEST_POSTGRES_URL =
  process.env.KEYHOLE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestSchema {
  readonly name: string;
  /** TEST_POSTGRES_URL with this schema as the search path. */
  readonly url: string;
  /** Runs SQL in this schema, on a connection of its own. */
  query(sql: string, values?: unknown[]): Promise<pg.QueryResult>;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** The URL with `search_path` set to `schema`. */
export function urlWithSchema(schema: string, base = TEST_POSTGRES_URL): string {
  const url = new URL(base);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return url.toString();
}

/** Creates `kh_test_<random>` and returns it; the caller drops it. */
export async function createTestSchema(prefix = "kh_test"): Promise<TestSchema> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } finally {
    await admin.end();
  }
  const url = urlWithSchema(name);
  return {
    name,
    url,
    query: async (sql, values) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return await client.query(sql, values);
      } finally {
        await client.end();
      }
    },
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
