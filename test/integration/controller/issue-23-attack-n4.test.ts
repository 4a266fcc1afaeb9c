/**
 * Issue 23 attack, N4: with the runtime database role, anyone created tokens. Rows inserted into
 * `tokens` for mallory and trudy filed and approved a production request, with no token issuance on
 * the audit chain; the same role could raise a token's groups, clear its revocation and write
 * enrollment tokens. Now a token (and an enrollment token) is accepted only when its row matches its
 * issuance record on the chain (subject, groups, expiry, secret hash), and a revocation on the chain
 * ends it whatever the row says. On SQLite and PostgreSQL, written the way the attacker did.
 */
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../../controller/audit/chain.js";
import { buildReport, renderMarkdown } from "../../../controller/audit/report.js";
import { issueEnrollToken, revokeEnrollToken } from "../../../controller/fleet/cli.js";
import { revokeToken } from "../../../controller/identity/cli.js";
import { enrollBody } from "../../helpers/enroll-body.js";
import { type Harness, startHarness } from "./helpers.js";

describe.each(["sqlite", "postgres"] as const)(
  "issue 23 attack N4: tokens come from the chain (%s)",
  (store) => {
    let h: Harness;
    let sql: (text: string, values?: unknown[]) => Promise<void>;
    let close: () => Promise<void>;
    beforeAll(async () => {
      h = await startHarness({ store, config: { agentNetworks: ["staging=127.0.0.0/8"] } });
      if (h.database) {
        const client = new pg.Client({ connectionString: h.database });
        await client.connect();
        let n = 0;
        sql = async (text, values = []) => {
          await client.query(
            text.replace(/\?/g, () => `$${++n}`),
            values,
          );
          n = 0;
        };
        close = () => client.end();
      } else {
        const cfg = h.controller.config.database;
        const raw = new DatabaseSync(cfg.kind === "sqlite" ? cfg.path : "");
        sql = async (text, values = []) => {
          raw.prepare(text).run(...(values as (string | number | null)[]));
        };
        close = async () => raw.close();
      }
    });
    afterAll(async () => {
      await close?.();
      await h?.close();
    });
    const location = () => (h.database ? { database: h.database } : { dataDir: join(h.dir, "data") });

    it("issue 23 attack N4: a token row inserted in the database is not accepted", async () => {
      const secret = randomBytes(32).toString("base64url");
      const hash = createHash("sha256").update(secret).digest("hex");
      const now = Date.now();
      await sql(
        "INSERT INTO tokens (id, subject, groups, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        ["aaaaaaaaaaaaaaaa", "user:mallory@example.com", '["sre"]', hash, now, now + 3_600_000],
      );
      const mallory = `kh_aaaaaaaaaaaaaaaa_${secret}`;
      const filed = await h.call(mallory, "POST", "/v1/requests", {
        action: "env",
        target: "production/shop/shop-0",
        reason: "N4",
      });
      expect(filed.status).toBe(401);
      expect((await h.call(mallory, "GET", "/v1/whoami")).status).toBe(401);
    });

    it("issue 23 attack N4: raising an issued token's groups, or clearing its revocation, is not accepted", async () => {
      const bob = await h.token("user:bob@example.com", ["support"]);
      const id = bob.split("_")[1]!;
      expect((await h.call(bob, "GET", "/v1/whoami")).status).toBe(200);
      await sql("UPDATE tokens SET groups = ? WHERE id = ?", ['["sre"]', id]);
      expect((await h.call(bob, "GET", "/v1/whoami")).status).toBe(401);
      await sql("UPDATE tokens SET groups = ? WHERE id = ?", ['["support"]', id]);
      expect((await h.call(bob, "GET", "/v1/whoami")).status).toBe(200);
      await revokeToken({ ...location(), id });
      await sql("UPDATE tokens SET revoked_at = NULL WHERE id = ?", [id]);
      expect((await h.call(bob, "GET", "/v1/whoami")).status).toBe(401);
    });

    it("issue 23 attack N4: an enrollment token row inserted in the database, or un-revoked, does not enroll", async () => {
      const secret = randomBytes(32).toString("base64url");
      const now = Date.now();
      const issued = await issueEnrollToken({ ...location(), environment: "staging" });
      const stored = await h.controller.store.fleet.getEnrollToken(issued.id);
      const prefix = issued.token.slice(0, issued.token.indexOf(issued.id));
      const hashOf = (s: string) => createHash("sha256").update(s).digest("hex");
      // The same hashing the real one uses, whatever it is: check it on the real token first.
      const realSecret = issued.token.slice(prefix.length + issued.id.length + 1);
      expect(hashOf(realSecret)).toBe(stored?.secretHash);
      const forgedId = "f".repeat(issued.id.length);
      await sql(
        "INSERT INTO enroll_tokens (id, environment, secret_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        [forgedId, "staging", hashOf(secret), "local:mallory", now, now + 3_600_000],
      );
      const enroll = (token: string, id: string) =>
        h.controller.app.inject({
          method: "POST",
          url: "/v1/agents/enroll",
          remoteAddress: "127.0.0.1",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          payload: enrollBody({
            id,
            environment: "staging",
            url: "http://127.0.0.1:27460",
            port: 27460,
            labels: { app: "n4" },
            actions: ["process-info"],
          }),
        });
      expect((await enroll(`${prefix}${forgedId}_${secret}`, "staging/n4/forged")).statusCode).toBe(401);
      expect((await enroll(issued.token, "staging/n4/real")).statusCode).toBe(201);
      await revokeEnrollToken({ ...location(), id: issued.id });
      await sql("UPDATE enroll_tokens SET revoked_at = NULL WHERE id = ?", [issued.id]);
      expect((await enroll(issued.token, "staging/n4/real2")).statusCode).toBe(401);
    });
  },
);

describe("issue 23 attack N4: the evidence report", () => {
  const chain = {
    status: "intact",
    keySource: "test",
    records: 4,
    lastSeq: 4,
    lastCheckpoint: undefined,
    unsignedTail: 0,
  } as never;
  const window = { since: new Date(Date.UTC(2029, 0, 1)), until: new Date(Date.UTC(2031, 0, 1)) };

  it("issue 23 attack N4: keyhole report flags acts with a token that has no issuance on the chain", async () => {
    const at = (n: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString();
    const record = (seq: number, event: string, actor: string, details: Record<string, unknown>) =>
      ({
        seq,
        time: seq === 1 ? new Date(Date.UTC(2020, 0, 1)).toISOString() : at(seq),
        actor,
        event,
        requestId: seq === 1 ? null : "r-1",
        details,
        reason: null,
        ticket: null,
        prevHash: "",
        hash: "",
      }) as unknown as AuditRecord;
    const records = [
      // Issued long before the window: still issued.
      record(1, "token.issued", "local:ops", { tokenId: "a".repeat(16), subject: "user:alice@example.com" }),
      record(2, "request.created", "user:alice@example.com", {
        action: "env",
        target: "production/shop/shop-0",
        environment: "production",
        approvalsRequired: 1,
        credential: { kind: "token", id: "a".repeat(16) },
      }),
      record(3, "request.approved", "user:trudy@example.com", {
        approvals: 1,
        approvalsRequired: 1,
        status: "approved",
        approver: { groups: ["sre"], credential: { kind: "token", id: "b".repeat(16) } },
      }),
    ];
    const report = await buildReport(records, { ...window, chain });
    expect(report.tokens.unissued).toEqual([
      { subject: "user:trudy@example.com", tokenId: "b".repeat(16), event: "request.approved", at: at(3) },
    ]);
    const markdown = renderMarkdown(report);
    expect(markdown).toMatch(/1 act\(s\) used a token with no issuance on the audit chain/);
    expect(markdown).toMatch(/NOT MET/);
  });

  it("issue 23 attack N4: a real controller's genuine tokens are not flagged", async () => {
    const h = await startHarness({ environments: ["staging"] });
    try {
      const alice = await h.token("user:alice@example.com", ["sre"]);
      const filed = await h.call(alice, "POST", "/v1/requests", {
        action: "process-info",
        target: "staging/shop/shop-0",
        reason: "N4 report",
      });
      expect(filed.status).toBe(201);
      await h.controller.dispatcher.whenIdle();
      const report = await buildReport(await h.controller.store.listAudit(), {
        since: new Date(Date.now() - 3_600_000),
        until: new Date(Date.now() + 3_600_000),
        chain,
      });
      expect(report.tokens.unissued).toEqual([]);
      expect(report.tokens.issued).toBe(1);
    } finally {
      await h.close();
    }
  });
});
