/**
 * Issue 21, TLS on every hop: real agents (runAgent: real config, real HTTPS server) and real
 * controllers (createController, real SQLite) on loopback, with certificates made in the test by a
 * CA of its own. The controller verifies agents against --agent-ca and presents its client
 * certificate; a wrong CA, a missing client certificate and a certificate naming another host are
 * each refused with a coded error and nothing runs; certificates rotate under running processes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningAgent, runAgent } from "../../../agent/main.js";
import { createEmptyReplayLog } from "../../../agent/replay-log.js";
import { type ControllerOptions, loadControllerConfig } from "../../../controller/config.js";
import { issueEnrollToken } from "../../../controller/fleet/cli.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { generateSigningKey } from "../../../controller/keys.js";
import { type ControllerRuntime, createController } from "../../../controller/runtime.js";
import { captureLog } from "../../helpers/capture-log.js";
import { bundle, issueCert, makeCa, type Pem } from "../../helpers/tls-certs.js";

const POLICY = `environments:
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

let dir: string;
let jwks: string;
let signingKey: string;
let ca: Pem;
let otherCa: Pem;
/** Names 127.0.0.1 and localhost. */
let agentCert: Pem;
/** Names another host only. */
let elsewhereCert: Pem;
let controllerClient: Pem;
let rogueClient: Pem;
const agents: RunningAgent[] = [];
const controllers: ControllerRuntime[] = [];
let counter = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyhole-tls-"));
  ca = makeCa(dir, "keyhole");
  otherCa = makeCa(dir, "other");
  agentCert = issueCert(dir, ca, "agent", ["127.0.0.1", "localhost"]);
  elsewhereCert = issueCert(dir, ca, "elsewhere", ["agent.elsewhere.example"]);
  controllerClient = issueCert(dir, ca, "controller-client", ["keyhole-controller"]);
  rogueClient = issueCert(dir, otherCa, "rogue-client", ["keyhole-controller"]);
  const key = await generateSigningKey(join(dir, "keys"), "staging");
  jwks = key.jwksPath;
  signingKey = key.privateKeyPath;
});

afterAll(async () => {
  for (const c of controllers) await c.close();
  for (const a of agents) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A real agent serving HTTPS; with `clientCa`, mutual TLS. */
async function startAgent(
  id: string,
  tls: { cert: Pem; clientCa?: string } | undefined,
  extra: Record<string, string> = {},
): Promise<RunningAgent> {
  const stateDir = join(dir, "state", `${id.replaceAll("/", "_")}-${++counter}`);
  createEmptyReplayLog(stateDir, id);
  const agent = await runAgent(
    {
      id,
      environment: "staging",
      trustedKeys: jwks,
      listen: "127.0.0.1:0",
      target: String(process.pid),
      actions: "process-info",
      ...(tls ? { tlsCert: tls.cert.cert, tlsKey: tls.cert.key } : {}),
      ...(tls?.clientCa ? { clientCa: tls.clientCa } : {}),
      tlsReloadSeconds: "1",
      ...extra,
    },
    { KEYHOLE_STATE_DIR: stateDir },
  );
  agents.push(agent);
  return agent;
}

/** A controller whose inventory lists `agents` ([id, url]); returns it and a way to run process-info. */
async function startController(
  name: string,
  inventory: readonly (readonly [string, string])[],
  options: ControllerOptions = {},
  logger?: ReturnType<typeof captureLog>["logger"],
) {
  const base = join(dir, `${name}-${++counter}`);
  writeFileSync(`${base}-policy.yaml`, POLICY);
  writeFileSync(
    `${base}-inventory.yaml`,
    inventory.map(([id, url]) => `- { id: ${id}, environment: staging, url: "${url}" }\n`).join(""),
  );
  const config = loadControllerConfig(
    {
      dataDir: join(base, "data"),
      policy: `${base}-policy.yaml`,
      inventory: `${base}-inventory.yaml`,
      signingKey: [`staging=${signingKey}`],
      tlsReloadSeconds: 1,
      ...options,
    },
    {},
  );
  const runtime = await createController(config, { watchPolicy: false, ...(logger ? { logger } : {}) });
  controllers.push(runtime);
  const { token } = await issueToken({
    dataDir: config.dataDir,
    subject: "user:ops@example.com",
    groups: ["sre"],
  });
  const run = async (target: string) => {
    const created = await runtime.app.inject({
      method: "POST",
      url: "/v1/requests",
      headers: { authorization: `Bearer ${token}` },
      payload: { action: "process-info", target, reason: "issue 21 TLS" },
    });
    expect(created.statusCode).toBe(201);
    await runtime.dispatcher.whenIdle();
    return (await runtime.store.getRequest(created.json().request.id))!;
  };
  return { runtime, run, token, dataDir: config.dataDir };
}

/** The audit record of a request's failure. */
async function failureRecord(runtime: ControllerRuntime, requestId: string) {
  const records = await runtime.store.listAudit({ limit: 10_000 });
  return records.find((r) => r.requestId === requestId && r.event === "request.failed");
}

/** SHA-256 fingerprint of the certificate a TLS server at `port` presents now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once("error", reject);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A POST to the agent with an optional client certificate, for the agent's own refusals. */
function postToAgent(url: string, client: Pem | undefined, path = "/v1/requests") {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = httpsRequest(
      `${url}${path}`,
      {
        method: path === "/healthz" ? "GET" : "POST",
        ca: readPem(ca.cert),
        ...(client ? { cert: readPem(client.cert), key: readPem(client.key) } : {}),
        headers: { "content-type": "application/jwt" },
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (c: string) => (body += c));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.once("error", reject);
    request.end(path === "/healthz" ? undefined : "not.a.jws");
  });
}

function readPem(file: string): Buffer {
  return readFileSync(file);
}

describe("controller → agent over mutual TLS", () => {
  it("serves HTTPS, verifies the agent against --agent-ca and presents the client certificate", async () => {
    const agent = await startAgent("staging/mtls", { cert: agentCert, clientCa: ca.cert });
    expect(agent.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { run } = await startController("mtls", [["staging/mtls", agent.url]], {
      agentCa: ca.cert,
      clientCert: controllerClient.cert,
      clientKey: controllerClient.key,
    });
    const done = await run("staging/mtls");
    expect([done.status, done.error]).toEqual(["completed", undefined]);
    expect((done.result as { result: { pid: number } }).result.pid).toBe(process.pid);
  });

  it("refuses an agent whose certificate another CA signed: KH_AGENT_TLS, audited", async () => {
    const agent = await startAgent("staging/wrong-ca", { cert: agentCert, clientCa: ca.cert });
    // The controller trusts only the other CA: the agent's certificate does not chain to it.
    const { run, runtime } = await startController("wrong-ca", [["staging/wrong-ca", agent.url]], {
      agentCa: otherCa.cert,
      clientCert: controllerClient.cert,
      clientKey: controllerClient.key,
    });
    const done = await run("staging/wrong-ca");
    expect([done.status, done.error?.code]).toEqual(["failed", "KH_AGENT_TLS"]);
    expect(done.error?.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    const audited = await failureRecord(runtime, done.id);
    expect(audited?.details).toMatchObject({ code: "KH_AGENT_TLS" });
    // Without --agent-ca the system's roots apply, which do not hold the test CA either.
    const { run: runDefault } = await startController("no-agent-ca", [["staging/wrong-ca", agent.url]], {
      clientCert: controllerClient.cert,
      clientKey: controllerClient.key,
    });
    expect((await runDefault("staging/wrong-ca")).error?.code).toBe("KH_AGENT_TLS");
  });

  it("refuses a handshake with an agent whose certificate names another host", async () => {
    const agent = await startAgent("staging/elsewhere", { cert: elsewhereCert, clientCa: ca.cert });
    const { run } = await startController("elsewhere", [["staging/elsewhere", agent.url]], {
      agentCa: ca.cert,
      clientCert: controllerClient.cert,
      clientKey: controllerClient.key,
    });
    const done = await run("staging/elsewhere");
    expect([done.status, done.error?.code]).toEqual(["failed", "KH_AGENT_TLS"]);
    expect(done.error?.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it("an agent with --client-ca refuses a controller without a client certificate, and one of another CA", async () => {
    const agent = await startAgent("staging/needs-client", { cert: agentCert, clientCa: ca.cert });
    const { run, runtime } = await startController("no-client", [["staging/needs-client", agent.url]], {
      agentCa: ca.cert,
    });
    const done = await run("staging/needs-client");
    // The agent's coded refusal reaches the request: it names the envelope's jti.
    expect([done.status, done.error?.code]).toEqual(["failed", "KH_CLIENT_CERT_REQUIRED"]);
    expect((await failureRecord(runtime, done.id))?.details).toMatchObject({
      code: "KH_CLIENT_CERT_REQUIRED",
      httpStatus: 401,
    });
    const rogue = await postToAgent(agent.url, rogueClient);
    expect(rogue.status).toBe(401);
    expect(JSON.parse(rogue.body).error.code).toBe("KH_CLIENT_CERT_REQUIRED");
    expect(JSON.parse(rogue.body).error.message).toMatch(/does not verify against the client CA/);
    const none = await postToAgent(agent.url, undefined);
    expect(JSON.parse(none.body).error).toMatchObject({
      code: "KH_CLIENT_CERT_REQUIRED",
      message: "mutual TLS: no client certificate was presented",
    });
    // A trusted client certificate gets past TLS to the envelope checks.
    const trusted = await postToAgent(agent.url, controllerClient);
    expect(JSON.parse(trusted.body).error.code).toBe("KH_MALFORMED");
    // A kubelet probe presents no certificate: /healthz still answers.
    expect((await postToAgent(agent.url, undefined, "/healthz")).status).toBe(200);
  });
});

describe("rotation without a restart", () => {
  it("the agent serves a new certificate and the controller trusts a new CA once their files change", async () => {
    const next = makeCa(join(dir), "next");
    const files = {
      cert: join(dir, "rotating-agent.crt"),
      key: join(dir, "rotating-agent.key"),
      agentCa: join(dir, "rotating-agent-ca.pem"),
    };
    const copy = (from: Pem) => {
      writeFileSync(files.cert, readFileSync(from.cert));
      writeFileSync(files.key, readFileSync(from.key));
    };
    copy(agentCert);
    bundle(files.agentCa, ca.cert);
    const agent = await startAgent("staging/rotating", {
      cert: { cert: files.cert, key: files.key },
      clientCa: ca.cert,
    });
    const port = Number(new URL(agent.url).port);
    const { run } = await startController("rotating", [["staging/rotating", agent.url]], {
      agentCa: files.agentCa,
      clientCert: controllerClient.cert,
      clientKey: controllerClient.key,
    });
    expect((await run("staging/rotating")).status).toBe("completed");

    // The agent's certificate is replaced by one of the next CA: served within a reload interval.
    const before = await servedFingerprint(port);
    copy(issueCert(dir, next, "agent-next", ["127.0.0.1"]));
    await until("the agent to serve the new certificate", async () =>
      (await servedFingerprint(port)) !== before ? true : undefined,
    );
    // The controller still trusts the old CA only: refused, nothing sent.
    expect((await run("staging/rotating")).error?.code).toBe("KH_AGENT_TLS");

    // The controller's --agent-ca file now holds the next CA: taken up without a restart.
    bundle(files.agentCa, next.cert);
    const after = await until("the controller to trust the next CA", async () => {
      const done = await run("staging/rotating");
      return done.status === "completed" ? done : undefined;
    });
    expect(after.error).toBeUndefined();
  });

  it("the controller's API serves HTTPS and a rotated certificate without a restart", async () => {
    const files = { cert: join(dir, "api.crt"), key: join(dir, "api.key") };
    const first = issueCert(dir, ca, "api-1", ["127.0.0.1", "localhost"]);
    writeFileSync(files.cert, readFileSync(first.cert));
    writeFileSync(files.key, readFileSync(first.key));
    const { runtime } = await startController("api", [], { tlsCert: files.cert, tlsKey: files.key });
    const url = await runtime.app.listen({ host: "127.0.0.1", port: 0 });
    expect(url).toMatch(/^https:\/\//);
    const port = Number(new URL(url).port);
    const before = await servedFingerprint(port);
    // A half-written rotation (new certificate, old key) does not fit: the old pair stays in force.
    const second = issueCert(dir, ca, "api-2", ["127.0.0.1", "localhost"]);
    writeFileSync(files.cert, readFileSync(second.cert));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await servedFingerprint(port)).toBe(before);
    writeFileSync(files.key, readFileSync(second.key));
    await until("the API to serve the new certificate", async () =>
      (await servedFingerprint(port)) !== before ? true : undefined,
    );
  });
});

describe("enrollment over TLS", () => {
  it("an agent serving HTTPS enrolls over HTTPS (--controller-ca) and is dispatched to at https", async () => {
    const api = issueCert(dir, ca, "api-enroll", ["127.0.0.1"]);
    const { runtime, run, dataDir } = await startController("enroll", [], {
      tlsCert: api.cert,
      tlsKey: api.key,
      agentCa: ca.cert,
      clientCert: controllerClient.cert,
      clientKey: controllerClient.key,
      agentNetworks: ["staging=127.0.0.0/8"],
    });
    const url = await runtime.app.listen({ host: "127.0.0.1", port: 0 });
    const { token } = await issueEnrollToken({ dataDir, environment: "staging" });
    await startAgent(
      "staging/enrolled",
      { cert: agentCert, clientCa: ca.cert },
      { controller: url, enrollToken: token, controllerCa: ca.cert },
    );
    const enrolled = await runtime.store.fleet.getEnrolledAgent("staging/enrolled");
    expect(enrolled?.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await run("staging/enrolled")).status).toBe("completed");

    // With --agent-ca, an agent serving plain HTTP cannot enroll: the CA check would be bypassed.
    await expect(
      startAgent("staging/plain", undefined, { controller: url, enrollToken: token, controllerCa: ca.cert }),
    ).rejects.toThrow(/KH_ENROLL_DENIED: .*--agent-ca/);
  });
});

describe("the clear-text warning at start", () => {
  const warnings = (log: ReturnType<typeof captureLog>) =>
    log.lines().filter((l) => l.level === 40 && /dispatches in clear text/.test(l.msg));

  it("names inventory agents at plain http beyond loopback, and networks agents may enroll from without --agent-ca", async () => {
    const log = captureLog();
    await startController(
      "clear-text",
      [
        ["staging/remote", "http://10.0.0.7:7070"],
        ["staging/local", "http://127.0.0.1:7070"],
        ["staging/secure", "https://10.0.0.8:7070"],
      ],
      { agentNetworks: ["staging=10.0.0.0/8"] },
      log.logger,
    );
    const [warning] = warnings(log);
    expect(warning).toMatchObject({
      inventoryAgents: ["staging/remote"],
      enrollmentEnvironments: ["staging"],
    });
  });

  it("is quiet for loopback, and for enrollment networks once --agent-ca requires TLS", async () => {
    const loopback = captureLog();
    await startController("quiet", [["staging/local", "http://127.0.0.1:7070"]], {}, loopback.logger);
    expect(warnings(loopback)).toEqual([]);
    const tls = captureLog();
    await startController(
      "quiet-tls",
      [["staging/secure", "https://10.0.0.8:7070"]],
      { agentNetworks: ["staging=10.0.0.0/8"], agentCa: ca.cert },
      tls.logger,
    );
    expect(warnings(tls)).toEqual([]);
  });
});

describe("start-up refuses TLS files that do not fit", () => {
  it("a certificate without its key, a key of another certificate, an unreadable CA", async () => {
    await expect(startAgent("staging/half", undefined, { tlsCert: agentCert.cert })).rejects.toThrow(
      /--tls-cert \(KEYHOLE_TLS_CERT\) and --tls-key \(KEYHOLE_TLS_KEY\) go together/,
    );
    await expect(
      startAgent("staging/mismatch", { cert: { cert: agentCert.cert, key: elsewhereCert.key } }),
    ).rejects.toThrow(/not a usable certificate, key and CA/);
    await expect(startController("bad-ca", [], { agentCa: join(dir, "missing-ca.pem") })).rejects.toThrow(
      /--agent-ca.*cannot read .*missing-ca\.pem: ENOENT/s,
    );
  });
});
