/**
 * Finding 2 of the outside review (issue 16): seeing an item must require every privilege that
 * creating it required, params included. A raw (`redact: false`) heap snapshot needs
 * `heap-snapshot:unredacted` to ask for; the review listed, read and downloaded it, and its request,
 * with `heap-snapshot` alone. The same held for bundles (a viewer needed only `bundle`), collections
 * and closing a break-glass review. Real controllers through `inject()`, a real SQLite file, real
 * streamed artifacts on disk.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type ArtifactHarness, FAKE_AGENT, startArtifactHarness, testBytes } from "../artifacts/harness.js";
import { type Harness, startHarness } from "./helpers.js";

const ARTIFACT_POLICY = `environments:
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
  forensics: { actions: ["*", "heap-snapshot:unredacted"] }
  support: { actions: [process-info, bundle] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:forensics"], role: forensics, environments: ["*"] }
  - { subjects: ["group:support"], role: support, environments: ["*"] }
`;

describe("finding 2: artifacts and their requests", () => {
  let h: ArtifactHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("finding 2: a raw heap snapshot, its request and its artifact are invisible to whoever lacks heap-snapshot:unredacted", async () => {
    h = await startArtifactHarness({ policy: ARTIFACT_POLICY });
    const frank = await h.tokenFor("user:frank@example.com", ["forensics"]);
    const sre = await h.tokenFor("user:sam@example.com", ["sre"]);
    h.fake = { body: testBytes(4096, 9) };
    const created = await h.call(
      "POST",
      "/v1/requests",
      {
        action: "heap-snapshot",
        target: FAKE_AGENT,
        params: { redact: false },
        reason: "INC-9",
        output: "stream",
      },
      frank,
    );
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.request.id as string;
    await h.controller.dispatcher.whenIdle();
    const own = await h.call("GET", `/v1/requests/${id}`, undefined, frank);
    expect(own.json.request.status, JSON.stringify(own.json)).toBe("completed");
    const artifactId = own.json.request.artifactId as string;

    // sam may take heap snapshots ("*"), never raw ones: he may not see this one in any way.
    expect((await h.call("GET", `/v1/requests/${id}`, undefined, sre)).status).toBe(404);
    const requests = (await h.call("GET", "/v1/requests", undefined, sre)).json.requests;
    expect(requests.map((r: { id: string }) => r.id)).not.toContain(id);
    expect((await h.call("GET", `/v1/artifacts/${artifactId}`, undefined, sre)).status).toBe(404);
    const download = await h.call("GET", `/v1/artifacts/${artifactId}/content`, undefined, sre);
    expect([download.status, download.json?.error?.code]).toEqual([404, "KH_NOT_FOUND"]);
    const listed = (await h.call("GET", "/v1/artifacts", undefined, sre)).json.artifacts;
    expect(listed.map((a: { id: string }) => a.id)).not.toContain(artifactId);
    expect(
      (await h.controller.store.listAudit()).filter((r) => r.event === "artifact.downloaded"),
    ).toHaveLength(0);

    // The one who could ask for it sees it, and a listing shows no server path.
    const mine = (await h.call("GET", "/v1/artifacts", undefined, frank)).json.artifacts;
    expect(mine.map((a: { id: string }) => a.id)).toContain(artifactId);
    const view = (await h.call("GET", `/v1/artifacts/${artifactId}`, undefined, frank)).json.artifact;
    expect(view).not.toHaveProperty("location");
    expect(JSON.stringify(mine)).not.toContain(h.dataDir);
    expect((await h.call("GET", `/v1/artifacts/${artifactId}/content`, undefined, frank)).status).toBe(200);
  });

  it("finding 2: a bundle and its artifact are invisible to whoever holds only `bundle`, not every action inside", async () => {
    h = await startArtifactHarness({ policy: ARTIFACT_POLICY });
    const sre = await h.tokenFor("user:sam@example.com", ["sre"]);
    const support = await h.tokenFor("user:sue@example.com", ["support"]);
    h.fake = { body: testBytes(2048, 4) };
    const created = await h.call(
      "POST",
      "/v1/requests",
      {
        action: "bundle",
        target: FAKE_AGENT,
        params: { actions: [{ action: "env" }, { action: "process-info" }] },
        reason: "INC-10",
        output: "stream",
      },
      sre,
    );
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    await h.controller.dispatcher.whenIdle();
    const request = (await h.call("GET", `/v1/requests/${created.json.request.id}`, undefined, sre)).json
      .request;
    expect(request.status).toBe("completed");
    // sue holds bundle and process-info, not env.
    expect((await h.call("GET", `/v1/requests/${request.id}`, undefined, support)).status).toBe(404);
    expect((await h.call("GET", `/v1/artifacts/${request.artifactId}`, undefined, support)).status).toBe(404);
    const listed = (await h.call("GET", "/v1/artifacts", undefined, support)).json.artifacts;
    expect(listed).toEqual([]);
  });
});

const GOVERNANCE_POLICY = `environments:
  production: { approvals: 1, breakGlass: true, breakGlassCooldownSeconds: 0 }
roles:
  sre: { actions: ["*"] }
  forensics: { actions: ["*", "heap-snapshot:unredacted"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:forensics"], role: forensics, environments: ["*"] }
`;

describe("finding 2: collections and break-glass reviews", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("finding 2: a raw-snapshot collection is invisible to, and cannot be decided by, whoever lacks heap-snapshot:unredacted", async () => {
    h = await startHarness({ policy: GOVERNANCE_POLICY, environments: ["production"] });
    const frank = await h.token("user:frank@example.com", ["forensics"]);
    const sam = await h.token("user:sam@example.com", ["sre"]);
    const created = await h.call(frank, "POST", "/v1/collections", {
      action: "heap-snapshot",
      selector: "app=shop",
      params: { redact: false },
      reason: "INC-11",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.collection.id as string;
    expect((await h.call(sam, "GET", `/v1/collections/${id}`)).status).toBe(404);
    const listed = (await h.call(sam, "GET", "/v1/collections")).json.collections;
    expect(listed.map((c: { id: string }) => c.id)).not.toContain(id);
    const approve = await h.call(sam, "POST", `/v1/collections/${id}/approve`, {});
    expect([approve.status, approve.json.error.code]).toEqual([404, "KH_NOT_FOUND"]);
    const deny = await h.call(sam, "POST", `/v1/collections/${id}/deny`, { reason: "peek" });
    expect([deny.status, deny.json.error.code]).toEqual([404, "KH_NOT_FOUND"]);
    expect((await h.call(frank, "GET", `/v1/collections/${id}`)).json.collection.status).toBe("pending");
  });

  it("finding 2: a raw-snapshot break-glass review is invisible to, and cannot be closed by, whoever lacks heap-snapshot:unredacted", async () => {
    h = await startHarness({ policy: GOVERNANCE_POLICY, environments: ["production"] });
    const frank = await h.token("user:frank@example.com", ["forensics"]);
    const sam = await h.token("user:sam@example.com", ["sre"]);
    const fiona = await h.token("user:fiona@example.com", ["forensics"]);
    const created = await h.call(frank, "POST", "/v1/requests", {
      action: "heap-snapshot",
      target: "production/shop/shop-0",
      params: { redact: false },
      reason: "INC-12 leak",
      ticket: "INC-12",
      breakGlass: true,
      output: "stream",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    await h.controller.dispatcher.whenIdle();
    const reviews = (await h.call(fiona, "GET", "/v1/reviews")).json.reviews;
    expect(reviews).toHaveLength(1);
    const reviewId = reviews[0].id as string;

    expect((await h.call(sam, "GET", "/v1/reviews")).json.reviews).toEqual([]);
    const close = await h.call(sam, "POST", `/v1/reviews/${reviewId}/close`, { note: "looks fine to me" });
    expect([close.status, close.json.error.code]).toEqual([404, "KH_NOT_FOUND"]);
    expect((await h.call(sam, "GET", `/v1/requests/${created.json.request.id}`)).status).toBe(404);

    // Someone entitled to everything it needed closes it.
    const closed = await h.call(fiona, "POST", `/v1/reviews/${reviewId}/close`, {
      note: "raw snapshot was needed",
    });
    expect(closed.status).toBe(200);
    expect(closed.json.review).toMatchObject({ status: "closed", closedBy: "user:fiona@example.com" });
  });
});
