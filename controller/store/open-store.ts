/**
 * Chooses the store for a database setting: the embedded SQLite file, or PostgreSQL for several
 * controller replicas sharing one database.
 */
import type { ControllerConfig } from "../config.js";
import { openPostgresStore } from "./postgres-store.js";
import { openSqliteStore } from "./sqlite-store.js";
import type { Store } from "./types.js";

/** Opens the configured store; the caller closes it. */
export async function openStore(database: ControllerConfig["database"]): Promise<Store> {
  switch (database.kind) {
    case "sqlite":
      return openSqliteStore(database.path);
    case "postgres":
      return openPostgresStore(database.url);
  }
}
