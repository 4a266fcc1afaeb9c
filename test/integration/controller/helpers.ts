/**
 * Test harness: a real controller (real SQLite file in a temp dir, real keys) driven through
 * `inject()`, and real fake agents on 127.0.0.1 port 0 that verify envelopes the way an agent must.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader } from "jose";
import { AnswerSigner } from "../../../agent/answer-signer.js";
import { ephemeralIdentity } from "../../../agent/identity.js";
import { type ControllerOptions, loadControllerConfig } from "../../../controller/config.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { type ControllerRuntime, createController } from "../../../controller/runtime.js";
import { SIGNATURE_HEADER } from "../../../protocol/answer.js";
import {
  AGENT_HEADER,
  claimsSchema,
  type InlineResult,
  REQUEST_ALG,
  REQUEST_ID_HEADER,
  REQUEST_TYP,
  type RequestClaims,
} from "../../../protocol/request.js";
import { createTestSchema, type TestSchema } from "../../helpers/postgres.js";

export const TEST_POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120 }
  staging: { approvals: 0, maxTtlSeconds: 60 }
  restricted: { approvals: 2, pendingTtlSeconds: 600 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support", "user:carol@example.com"], role: support, environments: [staging, production] }
`;

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "keyhole-ctl-"));
}

export type Responder = (
  claims: RequestClaims,
) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };

export interface FakeAgent {
  readonly id: string;
  readonly environment: string;
  readonly url: string;
  /** Claims of every envelope that verified. */
  readonly received: RequestClaims[];
  /** Why envelopes were refused (a correct controller never causes one). */
  readonly rejected: string[];
  respond: Responder;
  /** Its own key, which signs its answers like a real agent's (issue 21); `inventory publicKey` pins it. */
  readonly signer: AnswerSigner;
  /** False: answers go out unsigned (what an agent of an older release, or a forger, sends). */
  sign: boolean;
  close(): Promise<void>;
}

/**
 * A tiny agent: verifies the JWS against the JWKS file the controller gave it (read at request time,
 * because the controller writes it on first start), checks header, claims, audience and environment.
 */
export async function startFakeAgent(options: {
  id: string;
  environment: string;
  jwksPath: () => string;
}): Promise<FakeAgent> {
  const app: FastifyInstance = Fastify({ logger: false });
  const agent: FakeAgent = {
    id: options.id,
    environment: options.environment,
    url: "",
    received: [],
    rejected: [],
    signer: new AnswerSigner(ephemeralIdentity()),
    sign: true,
    respond: (claims) => ({
      status: 200,
      body: {
        requestId: claims.jti,
        agent: options.id,
        action: claims.action,
        startedAt: new Date().toISOString(),
        durationMs: 1,
        result: { pid: 42, echo: claims.params },
      },
    }),
    close: () => app.close(),
  };
  app.addContentTypeParser("application/jwt", { parseAs: "string" }, (_req, body, done) => done(null, body));
  app.post("/v1/requests", async (request, reply) => {
    let jti: string | undefined;
    const refuse = (code: string, status: number, message: string) => {
      agent.rejected.push(`${code}: ${message}`);
      return send(status, { error: { code, message } });
    };
    // Like the real agent: answers and refusals signed with its own key over the jti and the content.
    const send = (status: number, body: unknown) => {
      if (!agent.sign || jti === undefined) return reply.code(status).send(body);
      const named = body as { requestId?: unknown; error?: { code?: unknown; message?: unknown } } | null;
      if (status < 300 && typeof named?.requestId === "string")
        return reply
          .code(status)
          .type("application/json")
          .send(agent.signer.inline(body as InlineResult));
      if (status >= 400 && typeof named?.error?.code === "string" && typeof named.error.message === "string")
        reply.header(
          SIGNATURE_HEADER,
          agent.signer.refusal(jti, options.id, {
            error: { code: named.error.code, message: named.error.message },
          }),
        );
      return reply.code(status).send(body);
    };
    const jws = String(request.body);
    // Like the real agent: every answer names the envelope's jti, and the agent when addressed to it.
    try {
      const stated = decodeJwt(jws);
      if (typeof stated.jti === "string") {
        jti = stated.jti;
        reply.header(REQUEST_ID_HEADER, stated.jti);
      }
      if (stated.aud === options.id) reply.header(AGENT_HEADER, options.id);
    } catch {
      // not a JWS: no names
    }
    try {
      const header = decodeProtectedHeader(jws);
      if (header.alg !== REQUEST_ALG || header.typ !== REQUEST_TYP)
        return refuse("KH_BAD_SIGNATURE", 401, "alg/typ");
      const jwks = JSON.parse(await readFile(options.jwksPath(), "utf8"));
      const { payload } = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: [REQUEST_ALG] });
      const claims = claimsSchema.parse(JSON.parse(new TextDecoder().decode(payload)));
      if (claims.aud !== options.id) return refuse("KH_WRONG_AUDIENCE", 403, claims.aud);
      if (claims.env !== options.environment) return refuse("KH_WRONG_ENVIRONMENT", 403, claims.env);
      agent.received.push(claims);
      const answer = await agent.respond(claims);
      return send(answer.status, answer.body);
    } catch (err) {
      return refuse("KH_BAD_SIGNATURE", 401, (err as Error).message);
    }
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  (agent as { url: string }).url = `http://127.0.0.1:${port}`;
  return agent;
}

export interface Harness {
  readonly dir: string;
  readonly controller: ControllerRuntime;
  readonly agents: Record<string, FakeAgent>;
  /** The PostgreSQL URL when the harness runs on PostgreSQL (for the CLI paths: `--database`). */
  readonly database: string | undefined;
  /** Issues a real token through the CLI path (a second connection to the same SQLite file). */
  token(subject: string, groups?: string[], ttl?: string): Promise<string>;
  /** `inject` with a bearer token and a JSON body. */
  call(
    token: string | undefined,
    method: "GET" | "POST",
    url: string,
    body?: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert their shape
  ): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

/**
 * A controller with TEST_POLICY (unless given) and one fake agent per environment, named
 * `<env>/shop/shop-0`. Extra inventory lines can point at unreachable URLs.
 */
export async function startHarness(
  options: {
    policy?: string;
    extraInventory?: string;
    environments?: string[];
    now?: () => number;
    config?: ControllerOptions;
    /** Passed to createController (a capturing pino logger, OIDC timing, …). */
    runtime?: Parameters<typeof createController>[1];
    /**
     * The store: SQLite in the data dir, or a private schema of the test PostgreSQL. The default is
     * KEYHOLE_TEST_STORE (`sqlite` unless set), so `KEYHOLE_TEST_STORE=postgres npx vitest run
     * test/integration/controller` runs every harness test against PostgreSQL.
     */
    store?: "sqlite" | "postgres";
  } = {},
): Promise<Harness> {
  const dir = await tempDir();
  const dataDir = join(dir, "data");
  const usePostgres = (options.store ?? process.env.KEYHOLE_TEST_STORE ?? "sqlite") === "postgres";
  const schema: TestSchema | undefined = usePostgres ? await createTestSchema() : undefined;
  // A database given in `config` (e.g. a proxied PostgreSQL URL) is the one tokens go to as well.
  const database = options.config?.database ?? schema?.url;
  const environments = options.environments ?? ["production", "staging", "restricted"];
  const agents: Record<string, FakeAgent> = {};
  for (const environment of environments) {
    agents[environment] = await startFakeAgent({
      id: `${environment}/shop/shop-0`,
      environment,
      jwksPath: () => join(dataDir, "keys", environment, "jwks.json"),
    });
  }
  const policyPath = join(dir, "policy.yaml");
  const inventoryPath = join(dir, "inventory.yaml");
  await writeFile(policyPath, options.policy ?? TEST_POLICY);
  await writeFile(
    inventoryPath,
    Object.values(agents)
      .map(
        (a) => `- { id: ${a.id}, environment: ${a.environment}, url: "${a.url}", labels: { app: shop } }\n`,
      )
      .join("") + (options.extraInventory ?? ""),
  );
  const config = loadControllerConfig(
    {
      dataDir,
      policy: policyPath,
      inventory: inventoryPath,
      listen: "127.0.0.1:0",
      ...(database ? { database } : {}),
      ...options.config,
    },
    {},
  );
  const controller = await createController(config, {
    ...options.runtime,
    ...(options.now ? { now: options.now } : {}),
  }).catch(async (err: unknown) => {
    await schema?.drop();
    throw err;
  });
  return {
    dir,
    controller,
    agents,
    database,
    token: async (subject, groups = [], ttl) =>
      (await issueToken({ dataDir, database, subject, groups, ...(ttl ? { ttl } : {}) })).token,
    call: async (token, method, url, body) => {
      const response = await controller.app.inject({
        method,
        url,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(body === undefined ? {} : { payload: body as object }),
      });
      return { status: response.statusCode, json: response.body ? JSON.parse(response.body) : undefined };
    },
    close: async () => {
      await controller.close();
      await Promise.all(Object.values(agents).map((a) => a.close()));
      await schema?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens. */
export async function closedPortUrl(): Promise<string> {
  const app = Fastify();
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  await app.close();
  return `http://127.0.0.1:${port}`;
}
