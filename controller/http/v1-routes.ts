/** The authenticated API under `/v1`: whoami and the request lifecycle. Handlers only parse and delegate. */
import type { FastifyInstance } from "fastify";
import type { Authenticator } from "../identity/principal.js";
import type { RequestService } from "../requests/service.js";
import { toRequestSummary, toRequestView } from "../requests/view.js";
import type { RateCounter } from "../store/types.js";
import { principalOf, requireBearer } from "./authenticate.js";
import {
  approveBodySchema,
  createRequestBodySchema,
  denyBodySchema,
  emptyQuerySchema,
  listRequestsQuerySchema,
  requestIdParamsSchema,
} from "./schemas.js";
import { registerSubjectRateLimit } from "./shared-rate-limit.js";
import { parseInput } from "./validate.js";

/** Registers the `/v1` routes behind the bearer-token gate. */
export function v1Routes(
  authenticator: Authenticator,
  requests: RequestService,
  options: { rateLimitPerMinute?: number; rateCounter?: RateCounter | undefined } = {},
) {
  return async (v1: FastifyInstance): Promise<void> => {
    requireBearer(v1, authenticator);
    const createConfig = await registerSubjectRateLimit(v1, {
      what: "requests",
      perMinute: options.rateLimitPerMinute ?? 0,
      counter: options.rateCounter,
    });

    v1.get("/whoami", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { subject, groups } = principalOf(request);
      return { subject, groups };
    });

    v1.post("/requests", createConfig, async (request, reply) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const body = parseInput(createRequestBodySchema, request.body, "body");
      const traceparent = request.headers.traceparent;
      const created = await requests.create(principalOf(request), body, {
        traceparent: typeof traceparent === "string" ? traceparent : undefined,
      });
      request.log.info(
        {
          requestId: created.id,
          action: created.action,
          target: created.target,
          breakGlass: created.breakGlass,
        },
        "request created",
      );
      return reply.code(201).send({ request: toRequestView(created) });
    });

    v1.get("/requests", async (request) => {
      const query = parseInput(listRequestsQuerySchema, request.query, "query");
      const found = await requests.list(principalOf(request), query);
      // Summaries only: a result is fetched one request at a time (issue 23, finding 6).
      return { requests: found.map(toRequestSummary) };
    });

    v1.get("/requests/:id", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(requestIdParamsSchema, request.params, "path");
      return { request: toRequestView(await requests.get(principalOf(request), id)) };
    });

    // Who may approve it, for a requester waiting on it (`keyhole run --wait`).
    v1.get("/requests/:id/approvers", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(requestIdParamsSchema, request.params, "path");
      const { approvers } = await requests.approvers(principalOf(request), id);
      return { approvers };
    });

    v1.post("/requests/:id/approve", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(requestIdParamsSchema, request.params, "path");
      // No body at all is an approval without a note.
      const { note } = parseInput(approveBodySchema, request.body ?? {}, "body");
      const approved = await requests.approve(principalOf(request), id, note);
      request.log.info({ requestId: id, status: approved.status }, "request approved");
      return { request: toRequestView(approved) };
    });

    v1.post("/requests/:id/deny", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(requestIdParamsSchema, request.params, "path");
      const { reason } = parseInput(denyBodySchema, request.body, "body");
      const denied = await requests.deny(principalOf(request), id, reason);
      request.log.info({ requestId: id }, "request denied");
      return { request: toRequestView(denied) };
    });
  };
}
