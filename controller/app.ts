/**
 * `buildApp(deps)`: the controller's Fastify instance, fully wired and never listening, so tests drive
 * it with `inject()` and main.ts only adds a socket.
 */
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from "fastify";
import type { TlsMaterial } from "../common/tls-files.js";
import { httpsServerOptions } from "../common/tls-server.js";
import type { ArtifactService } from "./artifacts/service.js";
import { type ConsoleDeps, consoleRoutes } from "./console/routes.js";
import { ControllerError } from "./errors.js";
import { type FleetRouteDeps, fleetRoutes } from "./fleet/routes.js";
import { artifactRoutes } from "./http/artifact-routes.js";
import { installErrorHandlers } from "./http/error-handler.js";
import { type GovernanceRouteDeps, governanceRoutes } from "./http/governance-routes.js";
import { DEFAULT_HTTP_LIMITS, type HttpLimits, httpServerOptions } from "./http/server-limits.js";
import { v1Routes } from "./http/v1-routes.js";
import type { Authenticator } from "./identity/principal.js";
import type { RequestService } from "./requests/service.js";
import type { RateCounter } from "./store/types.js";

export interface AppDeps {
  readonly authenticator: Authenticator;
  readonly requests: RequestService;
  /** Artifacts; without it the `/v1/artifacts` routes are absent. */
  readonly artifacts?: ArtifactService;
  /** A pino logger (its redaction is what keeps tokens out of logs); none means silent. */
  readonly logger?: FastifyBaseLogger;
  readonly bodyLimitBytes?: number;
  /** Enrollment, agents, collections and the alert hook (docs/fleet.md); optional. */
  readonly fleet?: Omit<FleetRouteDeps, "authenticator">;
  /** Break-glass reviews, and the live policy and inventory for `/v1/policy/explain`; optional. */
  readonly governance?: Omit<GovernanceRouteDeps, "authenticator">;
  /** Requests one subject may create per minute (0 or unset: no limit). */
  readonly rateLimitPerMinute?: number;
  /** Where the limit is counted when replicas share a database (PostgreSQL); unset: in memory. */
  readonly rateCounter?: RateCounter | undefined;
  /** Timeouts and header size against slow or oversized clients (default DEFAULT_HTTP_LIMITS). */
  readonly httpLimits?: Partial<HttpLimits>;
  /** The web console under `/ui/` (SPEC §9); without it those routes are absent. */
  readonly console?: Omit<ConsoleDeps, "authenticator" | "requests" | "artifacts">;
  /** Serve HTTPS with this certificate and key (`--tls-cert`, `--tls-key`). */
  readonly tls?: TlsMaterial | undefined;
}

/** Builds the HTTP API. The caller owns the deps' lifetimes; closing the app does not close them. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const limits = httpServerOptions({ ...DEFAULT_HTTP_LIMITS, ...deps.httpLimits });
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.bodyLimitBytes ?? 64 * 1024,
    ...(deps.tls ? httpsServerOptions(limits, deps.tls) : limits),
    // Our own coded 503 while draining (below), instead of Fastify's uncoded one.
    return503OnClosing: false,
    // Ids are ours: a client-chosen request id would let callers forge log correlation.
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    frameworkErrors: (err, _request, rawReply) => {
      const reply = rawReply as unknown as FastifyReply;
      void reply
        .code(400)
        .type("application/json")
        .send({ error: { code: "KH_BAD_REQUEST", message: `the URL cannot be processed (${err.code})` } });
    },
  }) as unknown as FastifyInstance;
  // JSON only: a text/plain body would otherwise reach handlers as a string.
  app.removeContentTypeParser("text/plain");
  installErrorHandlers(app);
  // Draining (SIGTERM): requests in flight finish; a new one on a kept-alive socket is refused.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (closing) {
      reply.header("connection", "close");
      throw new ControllerError("KH_SHUTTING_DOWN", "the controller is shutting down; retry shortly");
    }
  });
  // An answer finished while draining closes its connection, so close() need not wait for the
  // client's keep-alive to time out.
  app.addHook("onSend", async (_request, reply) => {
    if (closing) reply.header("connection", "close");
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.register(
    v1Routes(deps.authenticator, deps.requests, {
      rateLimitPerMinute: deps.rateLimitPerMinute ?? 0,
      rateCounter: deps.rateCounter,
    }),
    { prefix: "/v1" },
  );
  if (deps.governance)
    app.register(governanceRoutes({ authenticator: deps.authenticator, ...deps.governance }), {
      prefix: "/v1",
    });
  if (deps.fleet)
    app.register(fleetRoutes({ authenticator: deps.authenticator, ...deps.fleet }), { prefix: "/v1" });
  if (deps.artifacts)
    app.register(
      artifactRoutes(deps.authenticator, deps.artifacts, {
        rateLimitPerMinute: deps.rateLimitPerMinute ?? 0,
        rateCounter: deps.rateCounter,
      }),
      { prefix: "/v1/artifacts" },
    );
  if (deps.console)
    app.register(
      consoleRoutes({
        authenticator: deps.authenticator,
        requests: deps.requests,
        artifacts: deps.artifacts,
        rateLimitPerMinute: deps.rateLimitPerMinute ?? 0,
        rateCounter: deps.rateCounter,
        ...deps.console,
      }),
    );
  return app;
}
