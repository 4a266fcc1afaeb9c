import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../../controller/store/sqlite-store.js";
import { governanceStoreContract } from "./store-governance-contract.js";

governanceStoreContract("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-gov-store-"));
  const store = openSqliteStore(join(dir, "keyhole.db"));
  return {
    store,
    close: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
