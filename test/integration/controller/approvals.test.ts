import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { captureLog } from "../../helpers/capture-log.js";
import { closedPortUrl, type Harness, startHarness } from "./helpers.js";

const POLICY = `environments:
  production: { approvals: 1, breakGlass: true, pendingTtlSeconds: 300 }
  staging: { approvals: 0 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:stg-ops"], role: sre, environments: [staging] }
  - { subjects: ["group:support"], role: support, environments: [production] }
`;

interface Receiver {
  readonly url: string;
  readonly bodies: unknown[];
  status: number;
  close(): Promise<void>;
}

/** A webhook receiver on loopback, answering `status` (Slack answers 200 "ok"). */
async function startReceiver(): Promise<Receiver> {
  const receiver = { url: "", bodies: [] as unknown[], status: 200, close: async () => {} };
  const server: Server = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk) => {
      text += chunk;
    });
    req.on("end", () => {
      receiver.bodies.push({
        contentType: req.headers["content-type"],
        path: req.url,
        json: JSON.parse(text),
      });
      res.writeHead(receiver.status, { "content-type": "text/plain" });
      res.end(receiver.status === 200 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver;
}

async function until(probe: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const ENVIRONMENTS = ["production", "staging"];
const T0 = Math.floor(Date.now() / 1000) * 1000;
const SECRET_PATH = "/services/T000/B000/s3cr3t-w3bh00k";

describe("approvals", () => {
  let h: Harness | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await h?.close();
    await receiver?.close();
    h = undefined;
    receiver = undefined;
  });

  const ask = (token: string, target = "production/shop/shop-0", extra: Record<string, unknown> = {}) =>
    h!.call(token, "POST", "/v1/requests", { action: "env", target, reason: "INC-5 config", ...extra });

  it("needs someone else entitled to the same action in the same environment, before the pending time runs out", async () => {
    let clock = T0;
    h = await startHarness({ policy: POLICY, environments: ENVIRONMENTS, now: () => clock });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const bob = await h.token("user:bob@example.com", ["sre"]);
    const carol = await h.token("user:carol@example.com", ["support"]);
    const stagingOps = await h.token("user:sam@example.com", ["stg-ops"]);
    const id = (await ask(alice)).json.request.id;
    const approve = (token: string, requestId = id) =>
      h!.call(token, "POST", `/v1/requests/${requestId}/approve`, {});

    const self = await approve(alice);
    expect([self.status, self.json.error.code]).toEqual([403, "KH_SELF_APPROVAL"]);
    // carol may ask for process-info in production, not env: she cannot approve env, and is told
    // the request does not exist (a 403 naming its action and environment would tell her more).
    const wrongAction = await approve(carol);
    expect([wrongAction.status, wrongAction.json.error.code]).toEqual([404, "KH_NOT_FOUND"]);
    expect(wrongAction.json.error.message).not.toContain("env");
    // sam may run env, but only in staging.
    const wrongEnvironment = await approve(stagingOps);
    expect([wrongEnvironment.status, wrongEnvironment.json.error.code]).toEqual([404, "KH_NOT_FOUND"]);
    expect((await h.call(bob, "GET", `/v1/requests/${id}`)).json.request.status).toBe("pending");

    // Past the environment's pendingTtlSeconds (300): refused, and the request is expired.
    const late = (await ask(alice)).json.request.id;
    clock += 301_000;
    const expired = await approve(bob, late);
    expect([expired.status, expired.json.error.code]).toEqual([410, "KH_REQUEST_EXPIRED"]);
    expect((await h.call(bob, "GET", `/v1/requests/${late}`)).json.request.status).toBe("expired");
  });

  it("denies only with a reason, recorded for the requester", async () => {
    h = await startHarness({ policy: POLICY, environments: ENVIRONMENTS });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const bob = await h.token("user:bob@example.com", ["sre"]);
    const id = (await ask(alice)).json.request.id;
    for (const body of [{}, { reason: "" }, { reason: "   " }]) {
      const answer = await h.call(bob, "POST", `/v1/requests/${id}/deny`, body);
      expect([answer.status, answer.json.error.code]).toEqual([400, "KH_BAD_REQUEST"]);
    }
    const denied = await h.call(bob, "POST", `/v1/requests/${id}/deny`, {
      reason: "use the staging replica",
    });
    expect(denied.json.request).toMatchObject({
      status: "denied",
      denial: { by: "user:bob@example.com", reason: "use the staging replica" },
    });
    const record = (await h.controller.store.listAudit()).find((r) => r.event === "request.denied");
    expect(record).toMatchObject({ actor: "user:bob@example.com", reason: "use the staging replica" });
  });

  it("announces pending requests, break-glass uses and overdue reviews on the webhook as Slack-compatible JSON", async () => {
    receiver = await startReceiver();
    const log = captureLog();
    let clock = T0;
    h = await startHarness({
      policy: POLICY,
      environments: ENVIRONMENTS,
      now: () => clock,
      config: { approvalWebhook: `${receiver.url}${SECRET_PATH}`, reviewOverdueHours: 1 },
      runtime: { logger: log.logger },
    });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const pending = (await ask(alice, "production/shop/shop-0", { ticket: "INC-5" })).json.request;
    await until(() => receiver!.bodies.length === 1, "the pending announcement");
    expect(receiver.bodies[0]).toMatchObject({ contentType: "application/json", path: SECRET_PATH });
    const { json } = receiver.bodies[0] as { json: { text: string } };
    expect(Object.keys(json).sort()).toEqual(["text", "unfurl_links", "unfurl_media"]);
    expect(json.text.split("\n")).toEqual([
      `keyhole: request \`${pending.id}\` needs 1 approval(s)`,
      "*Requester:* `user:alice@example.com`",
      "*Action:* `env`",
      "*Params:* `{}`",
      "*Environment:* `production`",
      "*Target:* `production/shop/shop-0`",
      "*Ticket:* `INC-5`",
      "*Reason:* `INC-5 config`",
      `*Expires:* ${new Date(T0 + 300_000).toISOString()} unless approved`,
      `Approve: \`keyhole approve ${pending.id}\`   Deny: \`keyhole deny ${pending.id} --reason …\``,
    ]);

    // Auto-approved staging requests wait for nobody: no announcement.
    expect((await ask(alice, "staging/shop/shop-0")).status).toBe(201);
    const bob = await h.token("user:bob@example.com", ["sre"]);
    expect((await ask(bob, "production/shop/shop-0", { ticket: "INC-6", breakGlass: true })).status).toBe(
      201,
    );
    await until(() => receiver!.bodies.length === 2, "the break-glass announcement");
    const glass = (receiver.bodies[1] as { json: { text: string } }).json.text;
    expect(glass).toMatch(
      /^keyhole BREAK-GLASS: request `\S+` ran without approval; review `\S+` stays open/,
    );
    expect(glass).toContain("*Requester:* `user:bob@example.com`");
    expect(glass).toContain("*Ticket:* `INC-6`");
    await h.controller.dispatcher.whenIdle();
    expect(receiver.bodies).toHaveLength(2);

    // An hour later the review is overdue: announced once.
    clock += 3600_000;
    expect(await h.controller.reviews.reportOverdue()).toBe(1);
    await until(() => receiver!.bodies.length === 3, "the overdue announcement");
    const overdue = (receiver.bodies[2] as { json: { text: string } }).json.text;
    expect(overdue).toMatch(/^keyhole: break-glass review `\S+` is OVERDUE: nobody has reviewed it in 1 h\n/);
    expect(overdue).toContain("*Requester:* `user:bob@example.com`");
    expect(overdue).toContain("*Params:* `{}`");
    expect(overdue).toContain("Close the review: `keyhole review close ");
    await h.controller.reviews.reportOverdue();
    await sleep(200);
    expect(receiver.bodies).toHaveLength(3);
  });

  it("never fails a request because the webhook refuses or cannot be reached, and never logs its secret", async () => {
    receiver = await startReceiver();
    receiver.status = 500;
    const log = captureLog();
    for (const url of [`${receiver.url}${SECRET_PATH}`, `${await closedPortUrl()}${SECRET_PATH}`]) {
      h = await startHarness({
        policy: POLICY,
        environments: ENVIRONMENTS,
        config: { approvalWebhook: url },
        runtime: { logger: log.logger },
      });
      const alice = await h.token("user:alice@example.com", ["sre"]);
      const created = await ask(alice);
      expect(created.status).toBe(201);
      expect(created.json.request.status).toBe("pending");
      await h.close();
      h = undefined;
    }
    const warnings = log.lines().filter((l) => l.level === 40 && /approval webhook/.test(l.msg));
    expect(warnings.map((w) => w.msg)).toEqual([
      "approval webhook refused the announcement",
      "approval webhook could not be reached",
    ]);
    expect(warnings[0]).toMatchObject({ status: 500, webhook: receiver.url });
    expect(log.text()).not.toContain("s3cr3t");
  });

  it("limits how many requests one subject creates per minute, without touching others", async () => {
    h = await startHarness({ policy: POLICY, environments: ENVIRONMENTS, config: { rateLimitPerMinute: 3 } });
    const alice = await h.token("user:alice@example.com", ["sre"]);
    const bob = await h.token("user:bob@example.com", ["sre"]);
    for (let i = 0; i < 3; i++) expect((await ask(alice)).status).toBe(201);
    const limited = await h.controller.app.inject({
      method: "POST",
      url: "/v1/requests",
      headers: { authorization: `Bearer ${alice}` },
      payload: { action: "env", target: "production/shop/shop-0", reason: "fourth" },
    });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe("KH_RATE_LIMITED");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect((await ask(bob)).status).toBe(201);
    // Reading is not limited, and the refused request was never stored.
    expect((await h.call(alice, "GET", "/v1/requests")).json.requests).toHaveLength(4);
    // An unauthenticated caller is refused before the counter.
    expect((await h.call("kh_bogus", "POST", "/v1/requests", {})).status).toBe(401);
  });

  it("finding 8: an approval announcement escapes the requester's text and shows the params", async () => {
    receiver = await startReceiver();
    h = await startHarness({
      policy:
        `${POLICY}  - { subjects: ["group:forensics"], role: forensics, environments: ["*"] }\n`.replace(
          "roles:\n",
          'roles:\n  forensics: { actions: ["*", "heap-snapshot:unredacted"] }\n',
        ),
      environments: ENVIRONMENTS,
      config: { approvalWebhook: `${receiver.url}${SECRET_PATH}` },
    });
    const frank = await h.token("user:frank@example.com", ["forensics"]);
    // The review's reason: a channel-wide ping, a fake link and a fake line saying it was approved.
    const reason =
      "routine check <!channel> see <https://evil.example/ok|the runbook>\n*APPROVED by security*\u202e `x` <@U0BOSS>";
    const created = await h.call(frank, "POST", "/v1/requests", {
      action: "heap-snapshot",
      target: "production/shop/shop-0",
      params: { redact: false },
      reason,
      ticket: "INC-8` *bold* <!here>",
      output: "stream",
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    await until(() => receiver!.bodies.length === 1, "the pending announcement");
    const text = (receiver.bodies[0] as { json: { text: string } }).json.text;
    // Nothing of the requester's text is markup: no control sequence, link, mention or new line.
    expect(text).not.toMatch(/<[!@#]|<https?:/);
    expect(text).toContain("&lt;!channel&gt;");
    expect(text).toContain("&lt;!here&gt;");
    expect(text).not.toContain("\u202e");
    const lines = text.split("\n");
    expect(lines.filter((l) => l.includes("APPROVED"))).toEqual([
      expect.stringMatching(/^\*Reason:\* `routine check .*⏎\*APPROVED by security\*.*`$/),
    ]);
    // Each value is one code span: an even number of backticks per line, none from the requester.
    for (const l of lines) expect((l.match(/`/g) ?? []).length % 2).toBe(0);
    expect(lines).toContain("*Ticket:* `INC-8ˋ *bold* &lt;!here&gt;`");
    // What the approver decides on: action, params, the privilege they need, where, until when.
    expect(lines).toEqual(
      expect.arrayContaining([
        "*Action:* `heap-snapshot`",
        '*Params:* `{"redact":false}`',
        "*Needs:* `heap-snapshot:unredacted`",
        expect.stringMatching(/^\*Warning:\* raw memory/),
        "*Environment:* `production`",
        "*Target:* `production/shop/shop-0`",
        expect.stringMatching(/^\*Expires:\* \d{4}-\d\d-\d\dT.*Z unless approved$/),
      ]),
    );

    // A collection waiting for approval is announced with its targets and params.
    const bob = await h.token("user:bob@example.com", ["sre"]);
    const collection = await h.call(bob, "POST", "/v1/collections", {
      action: "log-tail",
      selector: "app=shop",
      environment: "production",
      params: { file: "/var/log/app.log", lines: 50, contains: "<!everyone>" },
      reason: "INC-8 logs",
    });
    expect(collection.status, JSON.stringify(collection.json)).toBe(201);
    await until(() => receiver!.bodies.length === 2, "the collection announcement");
    const collected = (receiver.bodies[1] as { json: { text: string } }).json.text.split("\n");
    expect(collected).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^keyhole: collection `\S+` over 1 target\(s\) needs 1 approval\(s\)$/),
        '*Params:* `{"contains":"&lt;!everyone&gt;","file":"/var/log/app.log","lines":50}`',
        "*Selector:* `app=shop`",
        expect.stringMatching(/^\*Targets:\* `production\/shop\/shop-0` \(digest `[0-9a-f]{16}`…\)$/),
      ]),
    );
  });

  it("takes the webhook URL, with its secret, from a file (--approval-webhook-file)", async () => {
    receiver = await startReceiver();
    const dir = await mkdtemp(join(tmpdir(), "keyhole-hook-"));
    const file = join(dir, "approval-webhook");
    await writeFile(file, `${receiver.url}${SECRET_PATH}\n`, { mode: 0o600 });
    try {
      h = await startHarness({
        policy: POLICY,
        environments: ENVIRONMENTS,
        config: { approvalWebhookFile: file },
      });
      const alice = await h.token("user:alice@example.com", ["sre"]);
      expect((await ask(alice)).status).toBe(201);
      await until(() => receiver!.bodies.length === 1, "the pending announcement");
      expect(receiver.bodies[0]).toMatchObject({ path: SECRET_PATH });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
