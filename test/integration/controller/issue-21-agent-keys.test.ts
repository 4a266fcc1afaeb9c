/**
 * Issue 21, agent identity: an enrolled id is pinned to the key it first enrolled with. A later
 * enrollment must present that key and prove it holds it; another key (or a proof that does not
 * verify, or one too old) is refused with KH_AGENT_KEY_MISMATCH and audited, until an operator allows
 * one rotation (`keyhole agent-key allow-rotation`), for one key or any, which the next enrollment
 * uses up. Through the controller's HTTP API and the operator's function, on the harness's store
 * (SQLite, or PostgreSQL with KEYHOLE_TEST_STORE=postgres).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ephemeralIdentity } from "../../../agent/identity.js";
import { allowKeyRotation, issueEnrollToken } from "../../../controller/fleet/cli.js";
import { enrollBody } from "../../helpers/enroll-body.js";
import { type Harness, startHarness } from "./helpers.js";

describe("issue 21: agent keys are pinned at enrollment", () => {
  let h: Harness;
  let token: string;
  let location: { database: string } | { dataDir: string };
  beforeAll(async () => {
    h = await startHarness({ config: { agentNetworks: ["staging=127.0.0.0/8"] } });
    location = h.database ? { database: h.database } : { dataDir: join(h.dir, "data") };
    token = (await issueEnrollToken({ ...location, environment: "staging" })).token;
  });
  afterAll(async () => h?.close());

  const enroll = (payload: unknown) =>
    h.controller.app.inject({
      method: "POST",
      url: "/v1/agents/enroll",
      remoteAddress: "127.0.0.1",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      payload: payload as object,
    });
  const body = (id: string, identity = ephemeralIdentity(), now = Date.now()) =>
    enrollBody({ id, environment: "staging", port: 27470, url: "http://127.0.0.1:27470" }, identity, now);
  const refusals = async (id: string) =>
    (await h.controller.store.listAudit())
      .filter((r) => r.event === "agent.refused" && r.details.agent === id)
      .map((r) => r.details.code);

  it("pins the first key; the same key re-enrolls, another is refused and audited with the key it presented", async () => {
    const id = "staging/keys/k-0";
    const agent = ephemeralIdentity();
    expect((await enroll(body(id, agent))).statusCode).toBe(201);
    expect((await h.controller.store.fleet.getEnrolledAgent(id))?.publicKey).toBe(agent.jwk.x);
    expect((await enroll(body(id, agent))).statusCode).toBe(201);
    const other = ephemeralIdentity();
    const refused = await enroll(body(id, other));
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: "KH_AGENT_KEY_MISMATCH" });
    expect(refused.json().error.message).toContain("keyhole agent-key allow-rotation");
    const audit = (await h.controller.store.listAudit()).filter((r) => r.event === "agent.refused").at(-1);
    expect(audit?.details).toMatchObject({
      agent: id,
      publicKey: other.jwk.x,
      code: "KH_AGENT_KEY_MISMATCH",
    });
    // Its answers are verified against the pinned key.
    expect(h.controller.fleet.registry.inventory.agents.get(id)?.publicKey).toBe(agent.jwk.x);
  });

  it("refuses a proof made with another key, a proof of other fields, an old proof, and no key at all", async () => {
    const id = "staging/keys/k-1";
    const agent = ephemeralIdentity();
    // The victim's public key, signed for by someone else.
    const stolen = { ...body(id, ephemeralIdentity()), publicKey: agent.jwk.x };
    expect((await enroll(stolen)).json().error.code).toBe("KH_AGENT_KEY_MISMATCH");
    // A valid proof whose request was changed after signing (another URL).
    const changed = { ...body(id, agent), url: "http://127.0.0.1:27471" };
    expect((await enroll(changed)).json().error.code).toBe("KH_AGENT_KEY_MISMATCH");
    // Signed ten minutes ago.
    const old = await enroll(body(id, agent, Date.now() - 600_000));
    expect(old.json().error).toMatchObject({ code: "KH_AGENT_KEY_MISMATCH" });
    expect(old.json().error.message).toMatch(/more than 300 s/);
    // The body of an agent from before keys.
    const { publicKey: _k, proof: _p, ...legacy } = body(id, agent);
    expect((await enroll(legacy)).statusCode).toBe(400);
    expect(await refusals(id)).toEqual([
      "KH_AGENT_KEY_MISMATCH",
      "KH_AGENT_KEY_MISMATCH",
      "KH_AGENT_KEY_MISMATCH",
    ]);
    expect(await h.controller.store.fleet.getEnrolledAgent(id)).toBeUndefined();
    expect((await enroll(body(id, agent))).statusCode).toBe(201);
  });

  it("an operator allows one rotation: for a named key only, used up by the enrollment it allows", async () => {
    const id = "staging/keys/k-2";
    const first = ephemeralIdentity();
    const next = ephemeralIdentity();
    const third = ephemeralIdentity();
    expect((await enroll(body(id, first))).statusCode).toBe(201);
    const allowed = await allowKeyRotation({
      ...location,
      id,
      publicKey: next.jwk.x,
      ttl: "10m",
      actor: "local:ops",
    });
    expect(allowed).toMatchObject({ id, publicKey: next.jwk.x, currentKey: first.jwk.x });
    // Not for a key it does not name.
    expect((await enroll(body(id, third))).json().error.code).toBe("KH_AGENT_KEY_MISMATCH");
    const rotated = await enroll(body(id, next));
    expect(rotated.statusCode).toBe(201);
    expect((await h.controller.store.fleet.getEnrolledAgent(id))?.publicKey).toBe(next.jwk.x);
    const enrolled = (await h.controller.store.listAudit())
      .filter((r) => r.event === "agent.enrolled")
      .at(-1);
    expect(enrolled?.details).toMatchObject({
      publicKey: next.jwk.x,
      rotated: { from: first.jwk.x, allowedBy: "local:ops" },
    });
    const allowance = (await h.controller.store.listAudit()).find(
      (r) => r.event === "agent.rotation-allowed",
    );
    expect(allowance).toMatchObject({
      actor: "local:ops",
      details: { agent: id, currentKey: first.jwk.x, publicKey: next.jwk.x },
    });
    // Used up: the old key is another key now.
    expect((await enroll(body(id, first))).json().error.code).toBe("KH_AGENT_KEY_MISMATCH");
    // An allowance for any key, and for an unknown id.
    await allowKeyRotation({ ...location, id, actor: "local:ops" });
    expect((await enroll(body(id, third))).statusCode).toBe(201);
    await expect(allowKeyRotation({ ...location, id: "staging/keys/none" })).rejects.toMatchObject({
      code: "KH_NOT_FOUND",
    });
    await expect(allowKeyRotation({ ...location, id, publicKey: "not-a-key" })).rejects.toThrow(/public-key/);
  });
});
