/**
 * Issue 23, finding 5: whoever held the database credentials could approve without an audit trace.
 * `UPDATE requests SET status='approved'` plus an inserted approval row, then a restart: the request
 * was dispatched with no `request.approved` record, the chain verified and the evidence report
 * flagged nothing.
 *
 * Now the dispatcher trusts the chain, not the status column: before signing, the approvals the
 * request needs must be `request.approved` records of people on the chain (KH_APPROVALS_INSUFFICIENT
 * otherwise, audited); the tables refuse illegal transitions by trigger (a finished request cannot
 * be re-approved, what was filed cannot change, approvals needed cannot be lowered); and the
 * evidence report lists every dispatch without its approvals on the chain. On SQLite and PostgreSQL,
 * with the database written the way an attacker holding its credentials would.
 */
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../../controller/audit/chain.js";
import { buildReport, renderMarkdown } from "../../../controller/audit/report.js";
import { type Harness, startHarness } from "./helpers.js";

type Sql = (text: string, values?: unknown[]) => Promise<void>;

/** A raw connection to the harness's database, as someone holding its credentials has. */
async function rawDatabase(h: Harness): Promise<{ sql: Sql; close: () => Promise<void> }> {
  const db = h.controller.config.database;
  if (db.kind === "postgres") {
    const client = new pg.Client({ connectionString: h.database });
    await client.connect();
    return {
      sql: async (text, values = []) => {
        await client.query(
          text.replace(/\?/g, (_, i: number) => `$${countBefore(text, i)}`),
          values,
        );
      },
      close: () => client.end(),
    };
  }
  const raw = new DatabaseSync(db.path);
  return {
    sql: async (text, values = []) => {
      raw.prepare(text).run(...(values as (string | number | null)[]));
    },
    close: async () => raw.close(),
  };
}

/** `$n` for the `?` at `index`: how many `?` come before it, plus one. */
function countBefore(text: string, index: number): number {
  return text.slice(0, index + 1).split("?").length - 1;
}

const stores = ["sqlite", "postgres"] as const;

describe.each(stores)(
  "issue 23 finding 5: approvals come from the audit chain, not a status column (%s)",
  (store) => {
    let h: Harness | undefined;
    let raw: Awaited<ReturnType<typeof rawDatabase>> | undefined;
    afterEach(async () => {
      await raw?.close();
      await h?.close();
      raw = undefined;
      h = undefined;
    });

    async function pendingProductionRequest() {
      h = await startHarness({ store });
      raw = await rawDatabase(h);
      const alice = await h.token("user:alice@example.com", ["sre"]);
      const created = await h.call(alice, "POST", "/v1/requests", {
        action: "env",
        target: "production/shop/shop-0",
        reason: "INC-23 finding 5",
      });
      expect(created.json.request.status).toBe("pending");
      return { alice, id: created.json.request.id as string };
    }

    it("the reviewed attack: a request approved in the database is not signed, and the failure is audited", async () => {
      const { alice, id } = await pendingProductionRequest();
      await raw!.sql("INSERT INTO approvals (request_id, subject, at, note) VALUES (?, ?, ?, ?)", [
        id,
        "user:bob@example.com",
        Date.now(),
        null,
      ]);
      await raw!.sql("UPDATE requests SET status = 'approved' WHERE id = ?", [id]);
      // What a restarted controller does with the requests it finds approved.
      await h!.controller.requests.start({ sweepIntervalMs: 60_000 });
      await h!.controller.dispatcher.whenIdle();

      expect(h!.agents.production!.received).toEqual([]);
      const after = (await h!.call(alice, "GET", `/v1/requests/${id}`)).json.request;
      expect(after).toMatchObject({ status: "failed", error: { code: "KH_APPROVALS_INSUFFICIENT" } });
      expect(after.error.message).toMatch(/audit chain holds 0 approval record\(s\)/);
      const audit = await h!.controller.store.listAudit();
      const mine = audit.filter((r) => r.requestId === id).map((r) => r.event);
      expect(mine).toEqual(["request.created", "request.failed"]);
      expect(audit.find((r) => r.event === "request.failed" && r.requestId === id)?.details).toMatchObject({
        code: "KH_APPROVALS_INSUFFICIENT",
        chain: false,
      });
    });

    it("an edited approval record on the chain does not count (its successor no longer links to it)", async () => {
      const { id } = await pendingProductionRequest();
      const bob = await h!.token("user:bob@example.com", ["sre"]);
      const carol = await h!.token("user:carol@example.com", ["sre"]);
      // Bob approves a different request; the attacker re-points his record at this one.
      const other = await h!.call(carol, "POST", "/v1/requests", {
        action: "env",
        target: "production/shop/shop-0",
        reason: "another",
      });
      await h!.call(bob, "POST", `/v1/requests/${other.json.request.id}/approve`, {});
      await h!.controller.dispatcher.whenIdle();
      const received = h!.agents.production!.received.length;
      // Triggers refuse the edit (audit records are append-only) unless dropped first: an owner could.
      if (h!.controller.config.database.kind === "sqlite") {
        await raw!.sql("DROP TRIGGER audit_no_update");
      } else {
        await raw!.sql("ALTER TABLE audit DISABLE TRIGGER audit_no_change");
      }
      await raw!.sql("UPDATE audit SET request_id = ? WHERE event = 'request.approved' AND request_id = ?", [
        id,
        other.json.request.id,
      ]);
      await raw!.sql("INSERT INTO approvals (request_id, subject, at, note) VALUES (?, ?, ?, ?)", [
        id,
        "user:bob@example.com",
        Date.now(),
        null,
      ]);
      await raw!.sql("UPDATE requests SET status = 'approved' WHERE id = ?", [id]);
      await h!.controller.dispatcher.dispatch(id);
      expect(h!.agents.production!.received.length).toBe(received);
      expect((await h!.controller.store.getRequest(id))?.error?.code).toBe("KH_APPROVALS_INSUFFICIENT");
    });

    it("the tables refuse illegal transitions: re-approving what ended, changing what was filed, lowering approvals", async () => {
      const { id } = await pendingProductionRequest();
      const refused = async (text: string, values: unknown[]) =>
        expect(raw!.sql(text, values)).rejects.toThrow(/state machine/);
      // pending -> approved without the approval rows it needs
      await refused("UPDATE requests SET status = 'approved' WHERE id = ?", [id]);
      // what was filed cannot change, and approvals needed are never lowered
      await refused(`UPDATE requests SET params = '{"redact":false}' WHERE id = ?`, [id]);
      await refused("UPDATE requests SET action = 'heap-snapshot' WHERE id = ?", [id]);
      await refused("UPDATE requests SET approvals_required = 0 WHERE id = ?", [id]);
      // an ended request cannot come back
      await raw!.sql("UPDATE requests SET status = 'denied' WHERE id = ?", [id]);
      await refused("UPDATE requests SET status = 'pending' WHERE id = ?", [id]);
      await refused("UPDATE requests SET status = 'approved' WHERE id = ?", [id]);
      await refused("UPDATE requests SET status = 'dispatched' WHERE id = ?", [id]);
    });

    it("the evidence report flags a dispatch without its approvals on the chain", async () => {
      const at = (n: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString();
      const record = (seq: number, event: string, actor: string, details: Record<string, unknown>) =>
        ({
          seq,
          time: at(seq),
          actor,
          event,
          requestId: "r-1",
          details,
          reason: null,
          ticket: null,
          prevHash: "",
          hash: "",
        }) as unknown as AuditRecord;
      const records = [
        record(1, "request.created", "user:alice@example.com", {
          action: "env",
          target: "production/shop/shop-0",
          environment: "production",
          approvalsRequired: 1,
        }),
        record(2, "request.dispatched", "controller:c", { jti: "j".repeat(22) }),
        record(3, "request.completed", "controller:c", {}),
      ];
      const report = await buildReport(records, {
        since: new Date(Date.UTC(2029, 0, 1)),
        until: new Date(Date.UTC(2031, 0, 1)),
        chain: {
          status: "intact",
          keySource: "test",
          records: 3,
          lastSeq: 3,
          lastCheckpoint: undefined,
          unsignedTail: 0,
        } as never,
      });
      expect(report.unapprovedDispatches).toEqual([
        expect.objectContaining({
          requestId: "r-1",
          requester: "user:alice@example.com",
          approvalsRequired: 1,
        }),
      ]);
      expect(report.controls.find((c) => c.control === "NIST CSF 2.0 PR.AA-05")?.evidence).toMatch(
        /NOT MET: 1/,
      );
      expect(renderMarkdown(report)).toMatch(/Dispatches without approval on the chain/);
    });
  },
);
