/**
 * Issue 23 attack, N2: a staging enrollment token took over a production agent's id. The production
 * agent `production/x/p1` enrolled, went offline, and a staging token re-enrolled the id as staging at
 * the attacker's URL: requests for `production/x/p1` then ran as staging, with no approval, served by
 * the fake agent. Now an id stays in the environment it first enrolled in, and an id whose first
 * segment names an environment enrolls only there; every refusal is audited (`agent.refused`).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueEnrollToken } from "../../../controller/fleet/cli.js";
import { enrollBody } from "../../helpers/enroll-body.js";
import { type Harness, startHarness } from "./helpers.js";

describe("issue 23 attack N2: an agent id is bound to its environment", () => {
  let h: Harness;
  let tokens: Record<"production" | "staging", string>;
  beforeAll(async () => {
    h = await startHarness({
      config: { agentNetworks: ["staging=127.0.0.0/8", "production=127.0.0.0/8"] },
    });
    const location = h.database ? { database: h.database } : { dataDir: join(h.dir, "data") };
    tokens = {
      production: (await issueEnrollToken({ ...location, environment: "production" })).token,
      staging: (await issueEnrollToken({ ...location, environment: "staging" })).token,
    };
  });
  afterAll(async () => h?.close());

  const enroll = (token: "production" | "staging", body: Record<string, unknown>) =>
    h.controller.app.inject({
      method: "POST",
      url: "/v1/agents/enroll",
      remoteAddress: "127.0.0.1",
      headers: { authorization: `Bearer ${tokens[token]}`, "content-type": "application/json" },
      payload: enrollBody({ port: 27450, labels: { app: "shop" }, actions: ["process-info"], ...body }),
    });

  it("issue 23 attack N2: a staging token cannot re-enroll a production agent's id", async () => {
    const url = "http://127.0.0.1:27450";
    const real = await enroll("production", { id: "production/x/p1", environment: "production", url });
    expect(real.statusCode).toBe(201);
    const taken = await enroll("staging", { id: "production/x/p1", environment: "staging", url });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.code).toBe("KH_AGENT_ID_TAKEN");
    const agents = await h.controller.store.fleet.getEnrolledAgent("production/x/p1");
    expect(agents?.environment).toBe("production");
    const refused = (await h.controller.store.listAudit()).filter(
      (r) => r.event === "agent.refused" && r.details.agent === "production/x/p1",
    );
    expect(refused).toHaveLength(1);
    expect(refused[0]?.details).toMatchObject({ code: "KH_AGENT_ID_TAKEN", tokenEnvironment: "staging" });
    // The real agent still re-enrolls with its own token.
    expect(
      (await enroll("production", { id: "production/x/p1", environment: "production", url })).statusCode,
    ).toBe(201);
  });

  it("issue 23 attack N2: an id bound to staging cannot be re-enrolled as production either", async () => {
    const url = "http://127.0.0.1:27451";
    expect((await enroll("staging", { id: "shop/s1", environment: "staging", url })).statusCode).toBe(201);
    const taken = await enroll("production", { id: "shop/s1", environment: "production", url });
    expect(taken.json().error.code).toBe("KH_AGENT_ID_TAKEN");
  });

  it("issue 23 attack N2: an id naming an environment enrolls only in that environment", async () => {
    const url = "http://127.0.0.1:27452";
    const named = await enroll("staging", { id: "production/x/new", environment: "staging", url });
    expect(named.statusCode).toBe(403);
    expect(named.json().error.code).toBe("KH_ENROLL_DENIED");
    expect(await h.controller.store.fleet.getEnrolledAgent("production/x/new")).toBeUndefined();
  });
});
