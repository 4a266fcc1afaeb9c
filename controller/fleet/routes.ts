/**
 * The fleet's HTTP API (docs/fleet.md). Two gates in two scopes: agents authenticate with their
 * enrollment token (enroll) or session (heartbeat); people and services with bearer tokens like on
 * every other `/v1` route. Handlers only parse and delegate.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { enrollRequestSchema, heartbeatRequestSchema } from "../../protocol/fleet.js";
import { MAX_REASON_LENGTH } from "../../protocol/request.js";
import { ControllerError } from "../errors.js";
import { principalOf, requireBearer } from "../http/authenticate.js";
import { emptyQuerySchema } from "../http/schemas.js";
import { registerSubjectRateLimit } from "../http/shared-rate-limit.js";
import { parseInput } from "../http/validate.js";
import type { Authenticator } from "../identity/principal.js";
import type { Policy } from "../policy/load-policy.js";
import { seesEnvironment } from "../policy/visibility.js";
import { COLLECTION_STATUSES } from "../store/fleet-types.js";
import type { RateCounter } from "../store/types.js";
import { type CollectionService, MAX_CONCURRENCY } from "./collections.js";
import type { FleetRegistry } from "./registry.js";
import { parseSelector, SelectorError } from "./selector.js";
import { alertmanagerPayloadSchema, type TriggerService } from "./triggers.js";
import { toCollectionView } from "./view.js";

export interface FleetRouteDeps {
  readonly authenticator: Authenticator;
  readonly policy: Policy;
  readonly registry: FleetRegistry;
  readonly collections: CollectionService;
  readonly triggers: TriggerService;
  /** Collections one subject may file per minute (0 or unset: no limit), like requests. */
  readonly rateLimitPerMinute?: number;
  /** Counts shared by replicas (PostgreSQL); unset: counted in this process. */
  readonly rateCounter?: RateCounter | undefined;
}

const idParams = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a collection id") });

const listAgentsQuery = z.strictObject({
  selector: z.string().max(1024).optional(),
  environment: z.string().max(63).optional(),
  state: z.enum(["static", "online", "offline", "revoked"]).optional(),
});

const createCollectionBody = z.strictObject({
  action: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "must be an action name"),
  selector: z.string().trim().min(1).max(1024),
  environment: z.string().min(1).max(63).optional(),
  params: z.record(z.string(), z.unknown()).default({}),
  reason: z.string().trim().min(1).max(MAX_REASON_LENGTH),
  ticket: z.string().trim().min(1).max(200).optional(),
  maxConcurrency: z.number().int().min(1).max(MAX_CONCURRENCY).optional(),
  /** `N` or `P%`. */
  maxErrors: z.union([z.number().int().min(0), z.string().max(8)]).optional(),
  output: z.enum(["inline", "stream"]).optional(),
});

const listCollectionsQuery = z.strictObject({
  status: z.enum(COLLECTION_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const approveBody = z.strictObject({
  note: z.string().trim().min(1).max(MAX_REASON_LENGTH).optional(),
  /** The digest of the target list the approver was shown. */
  targetsDigest: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "must be a SHA-256 digest in hex")
    .optional(),
});

const denyBody = z.strictObject({ reason: z.string().trim().min(1).max(MAX_REASON_LENGTH) });

function bearerOf(request: FastifyRequest): string | undefined {
  return /^Bearer +(\S{1,512})\s*$/i.exec(request.headers.authorization ?? "")?.[1];
}

export function fleetRoutes(deps: FleetRouteDeps) {
  return async (v1: FastifyInstance): Promise<void> => {
    // Agents: their own credentials, no user token.
    await v1.register(async (agents) => {
      // Every enrollment call with a valid token adds a record to the audit chain (agent.enrolled or
      // agent.refused), so one token must not add them at will (issue 23, finding 7). Counted per
      // enrollment token and source address: a fleet's agents share one token but each pod has its
      // own address, so a rollout is not throttled, while one holder of the token from one place
      // gets the per-minute limit that requests get.
      const enrollConfig = await registerSubjectRateLimit(agents, {
        what: "enrollments",
        perMinute: deps.rateLimitPerMinute ?? 0,
        counter: deps.rateCounter,
        key: {
          of: (request) => {
            const token = bearerOf(request) ?? "";
            const digest = createHash("sha256").update(token).digest("hex").slice(0, 32);
            return `enroll:${digest}|${request.socket.remoteAddress ?? request.ip}`;
          },
          per: "enrollment token and address",
        },
      });
      agents.post("/agents/enroll", enrollConfig, async (request, reply) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const token = bearerOf(request);
        if (!token) throw new ControllerError("KH_UNAUTHENTICATED", "a valid enrollment token is required");
        const body = parseInput(enrollRequestSchema, request.body, "body");
        const enrolled = await deps.registry.enroll(token, body, request.socket.remoteAddress ?? "127.0.0.1");
        return reply.code(201).send(enrolled);
      });
      agents.post("/agents/heartbeat", async (request) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const session = bearerOf(request);
        if (!session) throw new ControllerError("KH_UNAUTHENTICATED", "a valid agent session is required");
        const { id } = parseInput(heartbeatRequestSchema, request.body, "body");
        return deps.registry.heartbeat(session, id);
      });
    });

    // People and services.
    await v1.register(async (scope) => {
      requireBearer(scope, deps.authenticator);
      // Per subject, after authentication, as for requests: a collection multiplies into many.
      const createConfig = await registerSubjectRateLimit(scope, {
        what: "collections",
        perMinute: deps.rateLimitPerMinute ?? 0,
        counter: deps.rateCounter,
      });

      scope.get("/agents", async (request) => {
        const query = parseInput(listAgentsQuery, request.query, "query");
        let selector: ReturnType<typeof parseSelector> | undefined;
        try {
          selector = query.selector === undefined ? undefined : parseSelector(query.selector);
        } catch (err) {
          if (err instanceof SelectorError)
            throw new ControllerError("KH_BAD_REQUEST", `query.selector: ${err.message}`);
          throw err;
        }
        const who = principalOf(request);
        const agents = deps.registry
          .list(selector)
          .filter(
            (a) =>
              (query.environment === undefined || a.environment === query.environment) &&
              (query.state === undefined || a.state === query.state),
          )
          .filter((a) => seesEnvironment(deps.policy, who, a.environment));
        return {
          agents: agents.map((a) => ({
            id: a.id,
            environment: a.environment,
            ...(a.transport === "nats" ? { transport: "nats" } : { url: a.url }),
            labels: a.labels,
            source: a.source,
            state: a.state,
            ...(a.actions ? { actions: a.actions } : {}),
            ...(a.enrolledAt ? { enrolledAt: new Date(a.enrolledAt).toISOString() } : {}),
            ...(a.lastSeenAt ? { lastSeenAt: new Date(a.lastSeenAt).toISOString() } : {}),
            ...(a.publicKey ? { publicKey: a.publicKey } : {}),
          })),
        };
      });

      scope.post("/collections", createConfig, async (request, reply) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const body = parseInput(createCollectionBody, request.body, "body");
        const created = await deps.collections.create(principalOf(request), {
          ...body,
          maxErrors: body.maxErrors === undefined ? undefined : String(body.maxErrors),
        });
        request.log.info(
          { collectionId: created.id, action: created.action, targets: created.targets.length },
          "collection created",
        );
        return reply.code(201).send({ collection: toCollectionView(created) });
      });

      scope.get("/collections", async (request) => {
        const query = parseInput(listCollectionsQuery, request.query, "query");
        const found = await deps.collections.list(principalOf(request), query);
        return { collections: found.map((c) => toCollectionView(c)) };
      });

      scope.get("/collections/:id", async (request) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const { id } = parseInput(idParams, request.params, "path");
        const { collection, targets } = await deps.collections.get(principalOf(request), id);
        return { collection: toCollectionView(collection, targets) };
      });

      scope.post("/collections/:id/approve", async (request) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const { id } = parseInput(idParams, request.params, "path");
        const { note, targetsDigest } = parseInput(approveBody, request.body ?? {}, "body");
        const approved = await deps.collections.approve(principalOf(request), id, note, targetsDigest);
        return { collection: toCollectionView(approved) };
      });

      scope.post("/collections/:id/deny", async (request) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const { id } = parseInput(idParams, request.params, "path");
        const { reason } = parseInput(denyBody, request.body, "body");
        return {
          collection: toCollectionView(await deps.collections.deny(principalOf(request), id, reason)),
        };
      });

      // A group of many alerts outgrows the API's 64 KiB; 1 MiB holds about a thousand. Rate limited
      // per subject like requests and collections (counted on its own route): each delivery can file
      // collections.
      scope.post("/hooks/alertmanager", { bodyLimit: 1024 * 1024, ...createConfig }, async (request) => {
        parseInput(emptyQuerySchema, request.query, "query");
        const payload = parseInput(alertmanagerPayloadSchema, request.body, "body");
        return deps.triggers.alertmanager(principalOf(request), payload);
      });
    });
  };
}
