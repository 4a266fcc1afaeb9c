/**
 * Issue 23 attack, N1: approvals from approvers who lost their rights still counted. With production
 * at two approvals, bob approved, then a reload removed bob from the policy (or his token was
 * revoked), carol approved, and the request ran with bob's approval counted.
 *
 * Now an approval counts only while its approver is entitled under the policy in force, with the
 * groups their credential carried when they approved (kept on the approval's audit record), and
 * that credential is not revoked: at each approval and again before each envelope is signed, for
 * requests and collections alike.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeToken } from "../../../controller/identity/cli.js";
import { type FakeAgent, type Harness, startFakeAgent, startHarness } from "./helpers.js";

const POLICY = (approvers: string) => `environments:
  production: { approvals: 2, maxTtlSeconds: 120 }
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: [${approvers}], role: sre, environments: ["*"] }
`;
const ALL = `"user:alice@example.com", "user:bob@example.com", "user:carol@example.com", "user:dave@example.com"`;

describe("issue 23 attack N1: approvals count only while their approvers are entitled", () => {
  let h: Harness;
  let second: FakeAgent;
  let dataDir = "";
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    second = await startFakeAgent({
      id: "production/shop/shop-1",
      environment: "production",
      jwksPath: () => join(dataDir, "keys", "production", "jwks.json"),
    });
    h = await startHarness({
      policy: POLICY(ALL),
      environments: ["production", "staging"],
      extraInventory: `- { id: production/shop/shop-1, environment: production, url: "${second.url}", labels: { app: shop } }\n`,
    });
    dataDir = join(h.dir, "data");
    for (const name of ["alice", "bob", "carol", "dave"])
      tokens[name] = await h.token(`user:${name}@example.com`);
  });
  afterAll(async () => {
    await h?.close();
    await second?.close();
  });

  const location = () => (h.database ? { database: h.database } : { dataDir });
  const tokenId = (token: string) => token.split("_")[1]!;
  const setPolicy = async (approvers: string) => {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(h.dir, "policy.yaml"), POLICY(approvers));
    expect((await h.controller.reloadPolicy("manual"))?.kind).toBe("loaded");
  };
  const file = async (who: string) => {
    const created = await h.call(tokens[who], "POST", "/v1/requests", {
      action: "process-info",
      target: "production/shop/shop-0",
      reason: "N1",
    });
    expect(created.json.request.status).toBe("pending");
    return created.json.request.id as string;
  };
  const approve = (who: string, id: string) => h.call(tokens[who], "POST", `/v1/requests/${id}/approve`, {});

  it("issue 23 attack N1: an approver removed by a policy reload no longer counts", async () => {
    const id = await file("alice");
    expect((await approve("bob", id)).json.request.status).toBe("pending");
    await setPolicy(`"user:alice@example.com", "user:carol@example.com", "user:dave@example.com"`);
    try {
      const after = await approve("carol", id);
      expect(after.status).toBe(200);
      expect(after.json.request.status).toBe("pending");
      const record = (await h.controller.store.listRequestAudit(id)).findLast(
        (r) => r.event === "request.approved",
      );
      expect(record?.details).toMatchObject({ approvals: 1, status: "pending" });
      expect(JSON.stringify(record?.details.notCounted)).toMatch(/bob/);
      // A second approver entitled now completes it.
      expect((await approve("dave", id)).json.request.status).not.toBe("pending");
      await h.controller.dispatcher.whenIdle();
    } finally {
      await setPolicy(ALL);
    }
  });

  it("issue 23 attack N1: an approver whose token was revoked no longer counts", async () => {
    const bob = await h.token("user:bob@example.com");
    const id = await file("alice");
    expect((await h.call(bob, "POST", `/v1/requests/${id}/approve`, {})).json.request.status).toBe("pending");
    await revokeToken({ ...location(), id: tokenId(bob) });
    const after = await approve("carol", id);
    expect(after.json.request.status).toBe("pending");
    await h.controller.dispatcher.whenIdle();
    expect((await h.controller.store.getRequest(id))?.status).toBe("pending");
  });

  it("issue 23 attack N1: a collection's target signed after an approver's token is revoked is refused", async () => {
    const bob = await h.token("user:bob@example.com");
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => undefined;
    const first = new Promise<void>((resolve) => {
      started = resolve;
    });
    const answer = (agent: FakeAgent) => async (claims: Parameters<FakeAgent["respond"]>[0]) => {
      started();
      await held;
      return {
        status: 200,
        body: {
          requestId: claims.jti,
          agent: agent.id,
          action: claims.action,
          startedAt: new Date().toISOString(),
          durationMs: 1,
          result: { pid: 1 },
        },
      };
    };
    h.agents.production!.respond = answer(h.agents.production!);
    second.respond = answer(second);
    const created = await h.call(tokens.alice, "POST", "/v1/collections", {
      action: "process-info",
      selector: "app=shop",
      environment: "production",
      reason: "N1 collection",
      maxConcurrency: 1,
    });
    expect(created.status).toBe(201);
    const id = created.json.collection.id as string;
    const { targetsDigest } = created.json.collection;
    await h.call(bob, "POST", `/v1/collections/${id}/approve`, { targetsDigest });
    await h.call(tokens.carol, "POST", `/v1/collections/${id}/approve`, { targetsDigest });
    await first;
    await revokeToken({ ...location(), id: tokenId(bob) });
    release();
    await h.controller.fleet.collections.whenIdle();
    const deadline = Date.now() + 10_000;
    let requests: { status: string; error?: { code: string } }[] = [];
    while (Date.now() < deadline) {
      requests = (await h.controller.store.listRequests({ limit: 50 }))
        .map((r) => r.record)
        .filter((r) => r.reason === "N1 collection");
      if (requests.length === 2 && requests.every((r) => !["approved", "dispatched"].includes(r.status)))
        break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const codes = requests.map((r) => r.error?.code ?? r.status).sort();
    expect(codes).toEqual(["KH_APPROVALS_INSUFFICIENT", "completed"]);
  });
});
