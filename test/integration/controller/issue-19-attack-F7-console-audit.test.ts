/**
 * Console attack F7: signing in to and out of the console, and taking the audit chain away through
 * the console (export, evidence report), left no record on the audit chain. They do now.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleCsrf, consoleLogin, consolePost } from "./console-session.js";
import { type Harness, startHarness } from "./helpers.js";

describe("issue-19-attack-F7-console-audit", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("records console sign-in, sign-out, the audit export and the evidence report on the chain", async () => {
    const token = await h.token("user:bob@example.com", ["sre"]);
    const app = h.controller.app;
    const login = await consoleLogin(app, token, { ip: "10.9.0.7" });
    expect(login.status, login.body).toBe(303);
    const cookie = login.cookie!;

    const exported = await app.inject({ url: "/ui/audit/export.jsonl", headers: { cookie } });
    expect(exported.statusCode, exported.body.slice(0, 300)).toBe(200);
    const report = await app.inject({ url: "/ui/audit/report.md?days=7", headers: { cookie } });
    expect(report.statusCode).toBe(200);
    const out = await consolePost(app, cookie, "/ui/logout", { _csrf: await consoleCsrf(app, cookie) });
    expect(out.statusCode).toBe(303);

    const records = await h.controller.store.listAudit({ afterSeq: 0, limit: 1000 });
    const mine = records.filter((r) => r.actor === "user:bob@example.com").map((r) => r.event);
    expect(mine).toEqual(["console.signed-in", "audit.exported", "audit.exported", "console.signed-out"]);
    const signedIn = records.find((r) => r.event === "console.signed-in")!;
    expect(signedIn.details).toMatchObject({
      credential: { kind: "token", id: token.split("_")[1] },
      address: "10.9.0.7",
    });
    // Never the token itself.
    expect(JSON.stringify(records)).not.toContain(token.split("_")[2]);
    const [whole, evidence] = records.filter((r) => r.event === "audit.exported");
    expect(whole!.details).toMatchObject({ via: "console" });
    expect(typeof whole!.details.headSeq).toBe("number");
    expect(evidence!.details).toMatchObject({ report: "evidence", days: 7 });
  });

  it("someone refused the export leaves no export record", async () => {
    const token = await h.token("user:carol@example.com", ["support"]);
    const login = await consoleLogin(h.controller.app, token);
    const refused = await h.controller.app.inject({
      url: "/ui/audit/export.jsonl",
      headers: { cookie: login.cookie! },
    });
    expect(refused.statusCode).toBe(403);
    const records = await h.controller.store.listAudit({ afterSeq: 0, limit: 1000 });
    expect(records.filter((r) => r.actor === "user:carol@example.com").map((r) => r.event)).toEqual([
      "console.signed-in",
    ]);
  });
});
