/**
 * Chooses the store for a database setting. Only SQLite exists today; config.ts already refuses a
 * `postgres://` URL with a clear message, and this is where the PostgreSQL store will plug in.
 */
import type { ControllerConfig } from "../config.js";
import { openSqliteStore } from "./sqlite-store.js";
import type { Store } from "./types.js";

/** Opens the configured store; the caller closes it. */
export async function openStore(database: ControllerConfig["database"]): Promise<Store> {
  switch (database.kind) {
    case "sqlite":
      return openSqliteStore(database.path);
  }
}
