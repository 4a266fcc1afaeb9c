import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError, ControllerError } from "../../../controller/errors.js";
import { issueToken, revokeToken } from "../../../controller/identity/cli.js";
import { verifyToken } from "../../../controller/identity/tokens.js";
import { openSqliteStore, type SqliteStore } from "../../../controller/store/sqlite-store.js";

describe("controller-issued tokens", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "keyhole-tok-"));
  });
  afterEach(async () => {
    vi.useRealTimers();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function withStore<T>(fn: (store: SqliteStore) => Promise<T>): Promise<T> {
    const store = openSqliteStore(join(dataDir, "keyhole.db"));
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  it("issues kh_<id>_<secret>, stores only the secret's hash, and verifies it", async () => {
    const issued = await issueToken({
      dataDir,
      subject: "user:alice@example.com",
      groups: "sre, oncall,sre",
      ttl: "8h",
      actor: "local:test",
    });
    expect(issued.token).toMatch(/^kh_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(issued.id).toBe(issued.token.split("_")[1]);
    expect(issued.groups).toEqual(["sre", "oncall"]);
    const secret = issued.token.slice(`kh_${issued.id}_`.length);

    // Neither the token nor its secret is anywhere in the data dir's files.
    for (const file of await readdir(dataDir)) {
      const bytes = await readFile(join(dataDir, file));
      expect(bytes.includes(Buffer.from(secret)), file).toBe(false);
    }

    await withStore(async (store) => {
      expect(await verifyToken(store, issued.token, Date.now())).toEqual({
        subject: "user:alice@example.com",
        groups: ["sre", "oncall"],
        credential: { kind: "token", id: issued.id, expiresAt: (await store.getToken(issued.id))?.expiresAt },
      });
      const record = await store.getToken(issued.id);
      expect(record?.secretHash).toMatch(/^[0-9a-f]{64}$/);
      const wrongSecret = `kh_${issued.id}_${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
      for (const bad of [
        wrongSecret,
        `${issued.token}x`,
        issued.token.replace("kh_", "kx_"),
        "",
        `kh_0000000000000000_${secret}`,
      ]) {
        expect(await verifyToken(store, bad, Date.now()), bad).toBeUndefined();
      }
      const [audit] = await store.listAudit();
      expect(audit).toMatchObject({
        event: "token.issued",
        actor: "local:test",
        details: { tokenId: issued.id },
      });
      expect(JSON.stringify(audit)).not.toContain(secret);
    });
  });

  it("expires after its ttl (default 8h)", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
    const issued = await issueToken({ dataDir, subject: "svc:ci-bot" });
    expect(issued.expiresAt).toBe("2030-01-01T08:00:00.000Z");
    await withStore(async (store) => {
      vi.setSystemTime(new Date("2030-01-01T07:59:59.999Z"));
      expect(await verifyToken(store, issued.token, Date.now())).toBeDefined();
      vi.setSystemTime(new Date("2030-01-01T08:00:00.000Z"));
      expect(await verifyToken(store, issued.token, Date.now())).toBeUndefined();
    });
  });

  it("revokes once, idempotently, with one audit record", async () => {
    const issued = await issueToken({ dataDir, subject: "user:bob@example.com", ttl: "30m" });
    const revoked = await revokeToken({ dataDir, id: issued.id });
    expect(revoked.id).toBe(issued.id);
    expect(await revokeToken({ dataDir, id: issued.id })).toEqual(revoked);
    await expect(revokeToken({ dataDir, id: "ffffffffffffffff" })).rejects.toMatchObject({
      code: "KH_NOT_FOUND",
    });
    await expect(revokeToken({ dataDir, id: "ffffffffffffffff" })).rejects.toBeInstanceOf(ControllerError);
    await withStore(async (store) => {
      expect(await verifyToken(store, issued.token, Date.now())).toBeUndefined();
      expect((await store.listAudit()).map((r) => r.event)).toEqual(["token.issued", "token.revoked"]);
    });
  });

  it("validates subject, groups and ttl before touching the store", async () => {
    await expect(issueToken({ dataDir, subject: "alice" })).rejects.toBeInstanceOf(ConfigError);
    await expect(
      issueToken({ dataDir, subject: "user:alice@example.com", groups: ["has space"] }),
    ).rejects.toThrow(/group/);
    await expect(issueToken({ dataDir, subject: "user:alice@example.com", ttl: "forever" })).rejects.toThrow(
      /invalid duration/,
    );
    expect(await readdir(dataDir)).toEqual([]);
  });

  it("finds the store through KEYHOLE_DATA_DIR like the controller does", async () => {
    const issued = await issueToken({ env: { KEYHOLE_DATA_DIR: dataDir }, subject: "svc:deployer", ttl: 60 });
    await withStore(async (store) => expect(await store.getToken(issued.id)).toBeDefined());
  });
});
