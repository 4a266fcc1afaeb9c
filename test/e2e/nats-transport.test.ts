/**
 * Issue 20, the NATS transport end to end with real processes: the nats-server configuration of
 * docs/transport.md (started as written, on a free loopback port, with nkeys `keyhole nats
 * permissions --seed-out` made), a workload, two agents on NATS (one in the inventory file, one
 * enrolled) and one on HTTP, and a controller with `--nats`. Checks that an agent on NATS opens no
 * listening socket, that HTTP and NATS agents serve one fleet, that a forged or replayed envelope
 * published straight to an agent's subject is refused with the HTTP transport's codes, and that an
 * agent's NATS user cannot take another agent's envelopes.
 */
import { createPrivateKey, type KeyObject, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection, nkeyAuthenticator } from "@nats-io/transport-node";
import { CompactSign } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentSubject, NATS_STATUS_HEADER } from "../../protocol/nats.js";
import { REQUEST_ALG, REQUEST_CONTENT_TYPE, REQUEST_ID_HEADER, REQUEST_TYP } from "../../protocol/request.js";
import { claimsFor, makeSigner } from "../helpers/envelope.js";
import { NatsServer } from "../helpers/nats-server.js";
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from "../helpers/s3rver.js";
import { Stack, type StartedProcess } from "../helpers/stack.js";

const SHOP_0 = "staging/shop/shop-0"; // on NATS, in the inventory file
const SHOP_1 = "staging/shop/shop-1"; // on NATS, enrolled
const SHOP_2 = "staging/shop/shop-2"; // on HTTP, in the inventory file
const DOC = fileURLToPath(new URL("../../docs/transport.md", import.meta.url));

const stack = new Stack("nats-transport");
let nats: NatsServer;
let s3: TestS3;
const seeds: Record<string, string> = {};
const keys: Record<string, { nkey: string; permissions: unknown }> = {};
let signingKey: KeyObject;
let kid: string;

/** The ```conf block of docs/transport.md, as written. */
function documentedConfig(): string {
  const text = readFileSync(DOC, "utf8");
  const block = /```conf\n([\s\S]*?)```/.exec(text);
  if (!block?.[1]) throw new Error("docs/transport.md has no ```conf block");
  return block[1];
}

/** The TCP sockets `pid` holds that are listening (from its fds and its network namespace's tables). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const found: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      // st 0A is LISTEN; column 9 is the inode.
      if (cols[3] === "0A" && inodes.has(cols[9]!)) found.push(`${table} ${cols[1]}`);
    }
  }
  return found;
}

async function natsAs(seedName: string): Promise<NatsConnection> {
  const seed = new TextEncoder().encode(readFileSync(seeds[seedName]!, "utf8").trim());
  return connect({ servers: nats.url, authenticator: nkeyAuthenticator(seed), maxReconnectAttempts: 0 });
}

/** A compact JWS for `agentId` signed with the stack's staging key (as the controller would). */
function envelope(
  agentId: string,
  overrides: Record<string, unknown> = {},
  key = signingKey,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claimsFor(overrides, { agentId }))))
    .setProtectedHeader({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid } as never)
    .sign(key);
}

/** Publishes `jws` straight to the agent's subject; the answer as status, head and body. */
async function overNats(nc: NatsConnection, agentId: string, jws: string) {
  const msg = await nc.request(agentSubject(agentId), jws, { timeout: 10_000 });
  return {
    status: Number(msg.headers?.get(NATS_STATUS_HEADER)),
    jti: msg.headers?.get(REQUEST_ID_HEADER),
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
    body: JSON.parse(new TextDecoder().decode(msg.data)) as any,
  };
}

/** POSTs `jws` to an HTTP agent, as the controller does. */
async function overHttp(agent: StartedProcess, jws: string) {
  const res = await fetch(`${agent.url}/v1/requests`, {
    method: "POST",
    headers: { "content-type": REQUEST_CONTENT_TYPE },
    body: jws,
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
  return { status: res.status, jti: res.headers.get(REQUEST_ID_HEADER), body: (await res.json()) as any };
}

const served = (agent: StartedProcess) => agent.lines.filter((l) => l.msg === "request served").length;

async function runJson(args: string[]) {
  const result = await stack.keyhole([...args, "--json"], stack.as("alice"));
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

async function auditRecords(): Promise<Record<string, unknown>[]> {
  const out = stack.path(`audit-${randomBytes(4).toString("hex")}.jsonl`);
  const exported = await stack.keyhole(["audit", "export", "--out", out, "--data-dir", stack.dir]);
  expect(exported.code, exported.stderr).toBe(0);
  return readFileSync(out, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

beforeAll(async () => {
  // One nkey per NATS user, made by the command operators use.
  for (const [name, args] of [
    ["CONTROLLER", ["--controller"]],
    ["SHOP_0", ["--agent", SHOP_0]],
    ["SHOP_1", ["--agent", SHOP_1]],
  ] as const) {
    seeds[name] = stack.path(`${name.toLowerCase()}.nkey`);
    const made = await stack.keyhole(["nats", "permissions", ...args, "--seed-out", seeds[name]!, "--json"]);
    expect(made.code, made.stderr).toBe(0);
    keys[name] = JSON.parse(made.stdout);
  }
  const config = stack.write("nats-server.conf", documentedConfig());
  nats = await NatsServer.start({
    config,
    env: {
      CONTROLLER_NKEY: keys.CONTROLLER!.nkey,
      SHOP_0_NKEY: keys.SHOP_0!.nkey,
      SHOP_1_NKEY: keys.SHOP_1!.nkey,
    },
  });
  stack.onStop(() => nats.stop());
  s3 = await startS3();
  stack.onStop(() => s3.close());

  await stack.start({
    workload: {},
    agents: [
      { id: SHOP_0, environment: "staging", connect: nats.url, natsCreds: seeds.SHOP_0 },
      { id: SHOP_2, environment: "staging" },
    ],
    policy: [
      "environments:",
      "  staging: { approvals: 0 }",
      "roles:",
      '  sre: { actions: ["*"] }',
      "bindings:",
      '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
      "",
    ].join("\n"),
    tokens: { alice: { subject: "user:alice@example.com", groups: ["sre"] } },
    controller: {
      flags: [
        "--nats",
        nats.url,
        "--nats-creds",
        seeds.CONTROLLER!,
        // Large results leave a pod on NATS through the s3 output's presigned upload.
        "--s3-bucket",
        s3.bucket,
        "--s3-endpoint",
        s3.endpoint,
        "--s3-force-path-style",
        "--s3-region",
        "us-east-1",
        "--s3-part-size-mib",
        "5",
      ],
      env: {
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      },
    },
  });
  // The third agent enrolls itself, saying it is on NATS.
  const issued = await stack.keyhole([
    "enroll-token",
    "issue",
    "--environment",
    "staging",
    "--data-dir",
    stack.dir,
    "--json",
  ]);
  expect(issued.code, issued.stderr).toBe(0);
  await stack.startAgent({
    id: SHOP_1,
    environment: "staging",
    connect: nats.url,
    natsCreds: seeds.SHOP_1,
    controller: stack.url,
    enrollTokenFile: stack.write("enroll-token", JSON.parse(issued.stdout).token),
  });
  const pem = readFileSync(stack.path("keys", "staging", "signing-key.pem"), "utf8");
  signingKey = createPrivateKey(pem);
  kid = JSON.parse(readFileSync(stack.path("keys", "staging", "jwks.json"), "utf8")).keys[0].kid;
}, 90_000);

afterAll(async () => {
  // Every process stops cleanly on SIGTERM (the agents on NATS drain their subscription).
  expect(await stack.stop()).toEqual([0, 0, 0, 0, 0]);
}, 30_000);

describe("issue 20: agents on NATS", () => {
  it("an agent on NATS opens no listening socket; the HTTP agent beside it does", () => {
    expect(listeningSockets(stack.agent(SHOP_0).pid)).toEqual([]);
    expect(listeningSockets(stack.agent(SHOP_1).pid)).toEqual([]);
    // The check sees listening sockets where there are some.
    expect(listeningSockets(stack.agent(SHOP_2).pid).length).toBeGreaterThan(0);
  });

  it("HTTP and NATS agents serve one fleet: the same run, policy and audit", async () => {
    for (const target of [SHOP_0, SHOP_1, SHOP_2]) {
      const { request } = await runJson([
        "run",
        "process-info",
        "--target",
        target,
        "--reason",
        "nats e2e: memory",
        "--wait",
      ]);
      expect(request.status, JSON.stringify(request.error)).toBe("completed");
      expect(request.result.agent).toBe(target);
      expect(request.result.result.pid).toBe(stack.workload!.pid);
    }
    const dispatched = (await auditRecords()).filter((r) => r.event === "request.dispatched");
    const byAgent = Object.fromEntries(
      dispatched.map((r) => [(r.details as { agent: string }).agent, r.details as Record<string, unknown>]),
    );
    expect(byAgent[SHOP_0]).toMatchObject({
      transport: "nats",
      subject: agentSubject(SHOP_0),
      server: nats.url,
    });
    expect(byAgent[SHOP_0]?.url).toBeUndefined();
    expect(byAgent[SHOP_1]).toMatchObject({ transport: "nats", subject: agentSubject(SHOP_1) });
    expect(byAgent[SHOP_2]?.url).toContain("http://127.0.0.1:");
  });

  it("keyhole agents lists the NATS agents with transport nats, the enrolled one online", async () => {
    const { agents } = await runJson(["agents"]);
    const byId = Object.fromEntries(agents.map((a: { id: string }) => [a.id, a]));
    expect(byId[SHOP_0]).toMatchObject({ transport: "nats", source: "static" });
    expect(byId[SHOP_0].url).toBeUndefined();
    expect(byId[SHOP_1]).toMatchObject({ transport: "nats", source: "enrolled", state: "online" });
    expect(byId[SHOP_1].lastSeenAt).toBeDefined();
    expect(byId[SHOP_2].url).toBe(stack.agent(SHOP_2).url);
    const enrolled = (await auditRecords()).find((r) => r.event === "agent.enrolled");
    expect(enrolled?.details).toMatchObject({ agent: SHOP_1, transport: "nats" });
  });

  it("a replayed envelope published straight to the agent's subject is refused KH_REPLAY, as over HTTP", async () => {
    const nc = await natsAs("CONTROLLER");
    try {
      const before = served(stack.agent(SHOP_0));
      const jws = await envelope(SHOP_0);
      const first = await overNats(nc, SHOP_0, jws);
      expect(first.status).toBe(200);
      expect(first.body.agent).toBe(SHOP_0);
      const again = await overNats(nc, SHOP_0, jws);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe("KH_REPLAY");
      expect(again.jti).toBe(first.body.requestId);
      // The same refusal over HTTP, body for body.
      const httpJws = await envelope(SHOP_2);
      expect((await overHttp(stack.agent(SHOP_2), httpJws)).status).toBe(200);
      const httpAgain = await overHttp(stack.agent(SHOP_2), httpJws);
      expect(httpAgain.status).toBe(again.status);
      expect(Object.keys(httpAgain.body.error)).toEqual(Object.keys(again.body.error));
      expect(httpAgain.body.error.code).toBe(again.body.error.code);
      // Ran once.
      await stack.agent(SHOP_0).waitFor((l) => l.msg === "request refused" && l.outcome === "KH_REPLAY");
      expect(served(stack.agent(SHOP_0))).toBe(before + 1);
    } finally {
      await nc.close();
    }
  });

  it("a forged or altered envelope published straight to the agent's subject is refused KH_BAD_SIGNATURE and runs nothing", async () => {
    const nc = await natsAs("CONTROLLER");
    try {
      const before = served(stack.agent(SHOP_0));
      // Another key under the pinned kid.
      const other = await makeSigner(kid);
      const forged = await envelope(SHOP_0, {}, other.privateKey);
      // A valid envelope whose payload was changed on the way.
      const [h, p, s] = (await envelope(SHOP_0)).split(".");
      const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
      const altered = `${h}.${Buffer.from(JSON.stringify({ ...claims, action: "env" })).toString("base64url")}.${s}`;
      for (const jws of [forged, altered]) {
        const answer = await overNats(nc, SHOP_0, jws);
        expect(answer.status).toBe(401);
        expect(answer.body.error.code).toBe("KH_BAD_SIGNATURE");
        // Over HTTP (to an agent it was not addressed to): refused at the signature first, the same.
        const http = await overHttp(stack.agent(SHOP_2), jws);
        expect(http.status).toBe(answer.status);
        expect(http.body.error.code).toBe("KH_BAD_SIGNATURE");
      }
      // Addressed to another agent (signed for shop-1, published to shop-0's subject by the server).
      const misrouted = await overNats(nc, SHOP_0, await envelope(SHOP_1));
      expect(misrouted.status).toBe(403);
      expect(misrouted.body.error.code).toBe("KH_WRONG_AUDIENCE");
      expect(served(stack.agent(SHOP_0))).toBe(before);
    } finally {
      await nc.close();
    }
  });

  it("an agent's NATS user cannot subscribe to another agent's subject, nor publish envelopes", async () => {
    const nc = await natsAs("SHOP_1");
    try {
      for (const subject of [agentSubject(SHOP_0), "keyhole.agent.>", ">"]) {
        const sub = nc.subscribe(subject);
        await nc.flush();
        const closed = await Promise.race([
          sub.closed,
          new Promise((resolve) => setTimeout(() => resolve("still open"), 3000)),
        ]);
        expect(String(closed)).toMatch(/permissions violation/i);
      }
      expect(nats.log).toContain(
        `Subscription Violation - Nkey "${keys.SHOP_1!.nkey}", Subject "${agentSubject(SHOP_0)}"`,
      );
      nc.publish(agentSubject(SHOP_0), await envelope(SHOP_0));
      await nc.flush();
      await expect
        .poll(() => nats.log, { timeout: 5000 })
        .toMatch(
          /Publish Violation - Nkey "[A-Z0-9]+", Subject "keyhole.agent.staging\/shop\/shop-0.requests"/,
        );
      // It may take its own subject (the agent shop-1 holds it too: one of the queue group gets each).
      const own = nc.subscribe(agentSubject(SHOP_1), { queue: "keyhole-agent" });
      await nc.flush();
      expect(own.isClosed()).toBe(false);
      own.unsubscribe();
    } finally {
      await nc.close().catch(() => {});
    }
    // The documented config is the one keyhole prints, subject for subject.
    const config = documentedConfig();
    for (const name of ["SHOP_0", "SHOP_1"])
      for (const subject of (keys[name]!.permissions as { subscribe: { allow: string[] } }).subscribe.allow)
        expect(config).toContain(JSON.stringify(subject));
  });

  it("a large result leaves an agent on NATS through the s3 output (presigned upload, outbound), verified", async () => {
    const run = await stack.keyhole(
      [
        "run",
        "bundle",
        "--target",
        SHOP_0,
        "--param",
        'actions=[{"action":"process-info"},{"action":"env"}]',
        "--reason",
        "nats e2e: bundle",
        "--output",
        "s3",
        "--wait",
        "--json",
      ],
      stack.as("alice"),
    );
    expect(run.code, run.stderr).toBe(0);
    const { request } = JSON.parse(run.stdout);
    expect(request).toMatchObject({ status: "completed", output: "s3" });
    expect(s3.requests.some((r) => r.startsWith("PUT") && r.includes("X-Amz-Signature"))).toBe(true);
    const file = stack.path("bundle.tar");
    const got = await stack.keyhole(
      ["artifacts", "get", request.artifactId, "-o", file, "--json"],
      stack.as("alice"),
    );
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({
      verified: true,
      artifact: { agent: SHOP_0, action: "bundle" },
    });
    // Still no listening socket after the upload.
    expect(listeningSockets(stack.agent(SHOP_0).pid)).toEqual([]);
  });

  it("keyhole nats permissions: the seed file is private, bad use is a usage error (exit 2)", async () => {
    const { statSync } = await import("node:fs");
    expect(statSync(seeds.SHOP_0!).mode & 0o777).toBe(0o600);
    expect(readFileSync(seeds.SHOP_0!, "utf8")).toMatch(/^SU[A-Z2-7]{56}\n$/);
    expect(keys.SHOP_0!.permissions).toEqual({
      publish: { deny: [">"] },
      subscribe: { allow: [agentSubject(SHOP_0)] },
      allow_responses: { max: 1, expires: "15m" },
    });
    for (const args of [
      [],
      ["--agent", SHOP_0, "--controller"],
      ["--agent", "a b"],
      ["--agent", SHOP_0, "--nkey", "not-a-key"],
    ]) {
      const run = await stack.keyhole(["nats", "permissions", ...args]);
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(2);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
    // An existing seed is never overwritten.
    const again = await stack.keyhole([
      "nats",
      "permissions",
      "--agent",
      SHOP_0,
      "--seed-out",
      seeds.SHOP_0!,
    ]);
    expect(again.code).not.toBe(0);
    expect(readFileSync(seeds.SHOP_0!, "utf8")).toMatch(/^SU/);
  });

  it("an agent whose NATS credentials the server refuses, or whose user may not take its subject, stops at start with one line", async () => {
    const stranger = stack.path("stranger.nkey");
    expect(
      (await stack.keyhole(["nats", "permissions", "--agent", "staging/shop/x", "--seed-out", stranger]))
        .code,
    ).toBe(0);
    const jwksFile = stack.path("keys", "staging", "jwks.json");
    const base = ["agent", "--environment", "staging", "--trusted-keys", jwksFile, "--connect", nats.url];
    const unknownUser = await stack.keyhole([...base, "--id", SHOP_0, "--nats-creds", stranger], {
      KEYHOLE_STATE_DIR: stack.path("state-x"),
    });
    expect(unknownUser.code, unknownUser.stderr).toBe(2);
    expect(unknownUser.stderr).toMatch(/invalid NATS credentials: the server at .* refused them/);
    // shop-1's user is valid, but not for shop-0's subject.
    const otherAgents = await stack.keyhole([...base, "--id", SHOP_0, "--nats-creds", seeds.SHOP_1!], {
      KEYHOLE_STATE_DIR: stack.path("state-y"),
    });
    expect(otherAgents.code, otherAgents.stderr).toBe(2);
    expect(otherAgents.stderr).toContain(`refused the subscription to ${agentSubject(SHOP_0)}`);
  });

  it("a stream request to an agent on NATS is refused at dispatch, coded, and nothing is sent", async () => {
    const before = stack.agent(SHOP_0).lines.length;
    const result = await stack.keyhole(
      [
        "run",
        "heap-snapshot",
        "--target",
        SHOP_0,
        "--output",
        "stream",
        "--reason",
        "nats e2e: stream",
        "--wait",
        "--json",
      ],
      stack.as("alice"),
    );
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain("KH_DISPATCH_FAILED");
    expect(`${result.stdout}${result.stderr}`).toMatch(/s3 output/);
    expect(
      stack
        .agent(SHOP_0)
        .lines.slice(before)
        .filter((l) => l.requestId),
    ).toEqual([]);
  });
});
