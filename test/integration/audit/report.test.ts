/**
 * The evidence report over a real controller's chain: requests by person, action and environment,
 * approvals and who gave them, a denial, a policy refusal, a service caller, a break-glass use and
 * its review, through the real `keyhole report` command in both formats.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKeyhole } from "../../../cli/demo/processes.js";
import type { EvidenceReport } from "../../../controller/audit/report.js";
import { loadControllerConfig } from "../../../controller/config.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { type ControllerRuntime, createController } from "../../../controller/runtime.js";
import { type FakeAgent, startFakeAgent } from "../controller/helpers.js";

const POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120, breakGlass: true }
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["user:carol@example.com"], role: support, environments: [staging] }
`;

let dir: string;
let dataDir: string;
let controller: ControllerRuntime;
const agents: FakeAgent[] = [];
let report: EvidenceReport;
let markdown: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-report-"));
  dataDir = join(dir, "data");
  for (const environment of ["staging", "production"])
    agents.push(
      await startFakeAgent({
        id: `${environment}/shop/shop-0`,
        environment,
        jwksPath: () => join(dataDir, "keys", environment, "jwks.json"),
      }),
    );
  await writeFile(join(dir, "policy.yaml"), POLICY);
  await writeFile(
    join(dir, "inventory.yaml"),
    agents.map((a) => `- { id: ${a.id}, environment: ${a.environment}, url: "${a.url}" }\n`).join(""),
  );
  controller = await createController(
    loadControllerConfig(
      { dataDir, policy: join(dir, "policy.yaml"), inventory: join(dir, "inventory.yaml") },
      {},
    ),
  );
  const token = async (subject: string, groups: string[] = []) =>
    (await issueToken({ dataDir, subject, groups })).token;
  const alice = await token("user:alice@example.com", ["sre"]);
  const bob = await token("user:bob@example.com", ["sre"]);
  const carol = await token("user:carol@example.com");
  const ci = await token("svc:ci-nightly", ["sre"]);
  const call = async (who: string, method: "GET" | "POST", url: string, payload?: object) => {
    const res = await controller.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${who}` },
      ...(payload ? { payload } : {}),
    });
    return { status: res.statusCode, json: JSON.parse(res.body) };
  };
  const ask = (who: string, action: string, env: string, extra: object = {}) =>
    call(who, "POST", "/v1/requests", {
      action,
      target: `${env}/shop/shop-0`,
      params: {},
      reason: "report test",
      ...extra,
    });

  expect((await ask(alice, "process-info", "staging")).status).toBe(201);
  ids.approved = (await ask(alice, "process-info", "production")).json.request.id;
  expect((await call(bob, "POST", `/v1/requests/${ids.approved}/approve`, {})).status).toBe(200);
  ids.denied = (await ask(alice, "env", "production")).json.request.id;
  expect((await call(bob, "POST", `/v1/requests/${ids.denied}/deny`, { reason: "not needed" })).status).toBe(
    200,
  );
  expect((await ask(carol, "env", "staging")).status).toBe(403);
  expect((await ask(ci, "process-info", "staging")).status).toBe(201);
  const glass = await ask(alice, "process-info", "production", { breakGlass: true, ticket: "INC-7" });
  expect(glass.status, JSON.stringify(glass.json)).toBe(201);
  ids.glass = glass.json.request.id;
  await controller.dispatcher.whenIdle();
  const reviews = await call(bob, "GET", "/v1/reviews");
  const review = reviews.json.reviews.find((r: { requestId: string }) => r.requestId === ids.glass);
  expect(
    (await call(bob, "POST", `/v1/reviews/${review.id}/close`, { note: "checked, INC-7 root cause" })).status,
  ).toBe(200);
  await controller.close();

  const env = { PATH: process.env.PATH };
  // The reviewer pins the audit key (here: the copy in the data dir, named explicitly).
  const pin = ["--key", join(dataDir, "audit-jwks.json")];
  const json = await runKeyhole(
    ["report", "--since", "30d", "--format", "json", "--data-dir", dataDir, ...pin],
    env,
    30_000,
  );
  expect(json.code, json.stderr).toBe(0);
  report = JSON.parse(json.stdout);
  const md = await runKeyhole(["report", "--since", "1d", "--data-dir", dataDir, ...pin], env, 30_000);
  expect(md.code, md.stderr).toBe(0);
  markdown = md.stdout;
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a.close();
  await rm(dir, { recursive: true, force: true });
});

describe("keyhole report", () => {
  it("proves the chain it reports from", () => {
    expect(report.chain).toMatchObject({ intact: true, unsignedTail: 0 });
    expect(markdown).toMatch(/Audit chain: \*\*intact\*\*/);
  });

  it("counts requests by person, action and environment", () => {
    expect(report.totals).toMatchObject({ requests: 5, completed: 4, denied: 1, refused: 1, breakGlass: 1 });
    expect(report.byPerson).toEqual([
      expect.objectContaining({ subject: "svc:ci-nightly", human: false, requests: 1, completed: 1 }),
      expect.objectContaining({
        subject: "user:alice@example.com",
        requests: 4,
        completed: 3,
        environments: ["production", "staging"],
      }),
      expect.objectContaining({ subject: "user:carol@example.com", requests: 0, refused: 1 }),
    ]);
    expect(report.byAction).toEqual([
      { action: "env", requests: 1, completed: 0 },
      { action: "process-info", requests: 4, completed: 4 },
    ]);
    expect(report.byEnvironment).toEqual([
      { environment: "production", requests: 3, approved: 1, automatic: 0, breakGlass: 1 },
      { environment: "staging", requests: 2, approved: 0, automatic: 2, breakGlass: 0 },
    ]);
  });

  it("names who approved and who denied", () => {
    expect(report.approvals).toEqual([
      expect.objectContaining({
        requestId: ids.approved,
        requester: "user:alice@example.com",
        approvers: ["user:bob@example.com"],
        outcome: "completed",
      }),
    ]);
    expect(report.approvers).toEqual([{ subject: "user:bob@example.com", approvals: 1, denials: 1 }]);
  });

  it("lists break-glass uses with their reviews, and refusals by code", () => {
    expect(report.breakGlass).toEqual([
      expect.objectContaining({
        requestId: ids.glass,
        subject: "user:alice@example.com",
        ticket: "INC-7",
        review: expect.objectContaining({
          closedBy: "user:bob@example.com",
          note: "checked, INC-7 root cause",
        }),
      }),
    ]);
    expect(report.refusals).toEqual([
      { code: "KH_POLICY_DENIED", by: "controller", count: 1, subjects: ["user:carol@example.com"] },
    ]);
    expect(report.tokens).toMatchObject({ issued: 4, revoked: 0 });
  });

  it("maps the evidence to OWASP NHI3 and NIST CSF 2.0 PR.AA, in Markdown too", () => {
    expect(report.controls.map((c) => c.control)).toEqual([
      "OWASP NHI3:2025",
      "NIST CSF 2.0 PR.AA-01 / PR.AA-03",
      "NIST CSF 2.0 PR.AA-05",
      "NIST CSF 2.0 PR.PS-04",
    ]);
    expect(report.controls[0]!.evidence).toContain("svc:ci-nightly");
    expect(report.controls[2]!.evidence).toContain(
      "1 break-glass use(s), 1 reviewed, 0 review(s) still open",
    );
    for (const heading of [
      "## Requests by person",
      "## Approvals",
      "## Break-glass uses and their reviews",
      "## Refusals",
      "## Artifacts and downloads",
    ])
      expect(markdown).toContain(heading);
    expect(markdown).toContain("| user:bob@example.com | 1 | 1 |");
  });

  it("refuses a bad --since or --format with exit 2", async () => {
    const env = { PATH: process.env.PATH };
    expect((await runKeyhole(["report", "--since", "soon", "--data-dir", dataDir], env, 30_000)).code).toBe(
      2,
    );
    expect((await runKeyhole(["report", "--format", "pdf", "--data-dir", dataDir], env, 30_000)).code).toBe(
      2,
    );
  });
});
