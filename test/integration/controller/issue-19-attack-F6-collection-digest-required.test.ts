/**
 * Console attack F6: a collection's approval without `targetsDigest` was accepted, so an approver
 * (or a forged console form, or a script) approved whatever target list the collection held, not
 * the frozen list they were shown. The digest is required now: without it nothing is approved
 * (`400 KH_TARGETS_UNCONFIRMED`), through the API and the console alike.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleCsrf, consoleLogin, consolePost } from "./console-session.js";
import { type Harness, startHarness } from "./helpers.js";

describe("issue-19-attack-F6-collection-digest-required", () => {
  let h: Harness;
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    h = await startHarness();
    alice = await h.token("user:alice@example.com", ["sre"]);
    bob = await h.token("user:bob@example.com", ["sre"]);
  });
  afterAll(async () => {
    await h?.close();
  });

  async function fileCollection(): Promise<{ id: string; targetsDigest: string }> {
    const created = await h.call(alice, "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=shop",
      environment: "production",
      reason: "INC-19 F6",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    return created.json.collection;
  }

  it("the API refuses an approval that names no digest, and approves the one that names the list", async () => {
    const { id, targetsDigest } = await fileCollection();
    const bare = await h.call(bob, "POST", `/v1/collections/${id}/approve`, {});
    expect([bare.status, bare.json.error.code]).toEqual([400, "KH_TARGETS_UNCONFIRMED"]);
    const noted = await h.call(bob, "POST", `/v1/collections/${id}/approve`, { note: "looks fine" });
    expect(noted.json.error.code).toBe("KH_TARGETS_UNCONFIRMED");
    const shown = await h.call(bob, "GET", `/v1/collections/${id}`);
    expect(shown.json.collection.status).toBe("pending");
    expect(shown.json.collection.approvals).toEqual([]);
    const records = await h.controller.store.listCollectionAudit(id);
    expect(records.map((r) => r.event)).not.toContain("collection.approved");

    const ok = await h.call(bob, "POST", `/v1/collections/${id}/approve`, { targetsDigest });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
  });

  it("the console refuses a form without the digest", async () => {
    const { id } = await fileCollection();
    const cookie = (await consoleLogin(h.controller.app, bob)).cookie!;
    const csrf = await consoleCsrf(h.controller.app, cookie);
    const answer = await consolePost(h.controller.app, cookie, `/ui/collections/${id}/approve`, {
      _csrf: csrf,
      note: "no digest",
    });
    expect(answer.statusCode).toBe(400);
    expect(answer.headers["x-keyhole-error"]).toBe("KH_TARGETS_UNCONFIRMED");
    expect((await h.call(bob, "GET", `/v1/collections/${id}`)).json.collection.status).toBe("pending");
  });
});
