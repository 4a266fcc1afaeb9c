/**
 * Issue 23, finding 7: audit records could be added without a rate limit. Every enrollment call
 * (agent.enrolled or agent.refused) and every artifact download (artifact.downloaded) appends a
 * chained record; one enrollment token or one user token added about 500 a second. Both are now
 * rate limited like requests (`--rate-limit-per-minute`, @fastify/rate-limit, shared across
 * replicas on PostgreSQL): downloads per subject, enrollments per enrollment token and source
 * address. Real controllers (real SQLite, a real agent for the artifact).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { issueEnrollToken } from "../../../controller/fleet/cli.js";
import { enrollBody } from "../../helpers/enroll-body.js";
import { type ArtifactHarness, startArtifactHarness } from "../artifacts/harness.js";
import { type Harness, startHarness } from "./helpers.js";

const LIMIT = 3;

describe("issue 23 finding 7: enrollments and artifact downloads are rate limited like requests", () => {
  let h: Harness | undefined;
  let a: ArtifactHarness | undefined;
  afterEach(async () => {
    await h?.close();
    await a?.close();
    h = undefined;
    a = undefined;
  });

  it("one enrollment token from one address adds at most the limit of records a minute; another token or address is not held up", async () => {
    h = await startHarness({ config: { rateLimitPerMinute: LIMIT } });
    const location = h.database ? { database: h.database } : { dataDir: join(h.dir, "data") };
    const { token } = await issueEnrollToken({ ...location, environment: "staging" });
    const enroll = (bearer: string, id: string, remoteAddress = "10.0.0.7") =>
      h!.controller.app.inject({
        method: "POST",
        url: "/v1/agents/enroll",
        remoteAddress,
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        payload: enrollBody({
          id,
          environment: "staging",
          url: `http://${remoteAddress}:7070`,
          port: 7070,
        }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push((await enroll(token, "staging/pay/p-0")).statusCode);
    expect(statuses).toEqual([201, 201, 201, 429, 429, 429]);
    const refused = await enroll(token, "staging/pay/p-0");
    expect(refused.json().error.code).toBe("KH_RATE_LIMITED");
    expect(refused.json().error.message).toMatch(/enrollments per minute per enrollment token and address/);
    const enrolled = (await h.controller.store.listAudit()).filter((r) => r.event === "agent.enrolled");
    expect(enrolled).toHaveLength(LIMIT);

    // A rollout: the fleet's other pods share the token, each from its own address.
    expect((await enroll(token, "staging/pay/p-1", "10.0.0.8")).statusCode).toBe(201);
    const other = await issueEnrollToken({ ...location, environment: "staging" });
    expect((await enroll(other.token, "staging/pay/p-2")).statusCode).toBe(201);
  });

  it("one subject downloads at most the limit of artifacts a minute, each audited; others are not held up", async () => {
    a = await startArtifactHarness({ config: { rateLimitPerMinute: LIMIT } });
    const request = await a.run("bundle", { actions: [{ action: "process-info" }] }, "stream");
    expect(request.status, JSON.stringify(request.error)).toBe("completed");
    const url = `/v1/artifacts/${request.artifactId}/content`;
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push((await a.call("GET", url)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
    const refused = await a.call("GET", url);
    expect(refused.json.error.code).toBe("KH_RATE_LIMITED");
    expect(refused.json.error.message).toMatch(/artifact downloads per minute per subject/);
    const downloads = (await a.controller.store.listAudit()).filter((r) => r.event === "artifact.downloaded");
    expect(downloads).toHaveLength(LIMIT);

    const other = await a.tokenFor("user:sre2@example.com", ["sre"]);
    expect((await a.call("GET", url, undefined, other)).status).toBe(200);
  });
});
