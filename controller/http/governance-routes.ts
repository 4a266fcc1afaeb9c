/**
 * `/v1/reviews` (break-glass reviews) and `/v1/policy/explain` (the live policy's reasoning), behind
 * the bearer-token gate. Handlers only parse and delegate.
 */
import type { FastifyInstance } from "fastify";
import { ControllerError } from "../errors.js";
import type { Authenticator } from "../identity/principal.js";
import type { Inventory } from "../inventory/load-inventory.js";
import { explain } from "../policy/explain.js";
import { LivePolicy } from "../policy/live-policy.js";
import type { Policy } from "../policy/load-policy.js";
import type { ReviewService } from "../requests/reviews.js";
import { principalOf, requireBearer } from "./authenticate.js";
import {
  closeReviewBodySchema,
  explainQuerySchema,
  listReviewsQuerySchema,
  reviewIdParamsSchema,
} from "./governance-schemas.js";
import { emptyQuerySchema } from "./schemas.js";
import { parseInput } from "./validate.js";

export interface GovernanceRouteDeps {
  readonly authenticator: Authenticator;
  readonly reviews: ReviewService;
  readonly policy: Policy;
  readonly inventory: Inventory;
}

/** Registers the governance routes; mount under `/v1`. */
export function governanceRoutes(deps: GovernanceRouteDeps) {
  return async (scope: FastifyInstance): Promise<void> => {
    requireBearer(scope, deps.authenticator);

    scope.get("/reviews", async (request) => {
      const query = parseInput(listReviewsQuerySchema, request.query, "query");
      const who = principalOf(request);
      const found = await deps.reviews.list(who, {
        ...(query.status === "all" ? {} : { status: query.status }),
        limit: query.limit,
      });
      const views = found.map((r) => deps.reviews.view(r));
      return {
        reviews: views,
        overdue: views.filter((v) => v.overdue).length,
        overdueAfterSeconds: deps.reviews.overdueSeconds,
      };
    });

    scope.post("/reviews/:id/close", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(reviewIdParamsSchema, request.params, "path");
      const { note } = parseInput(closeReviewBodySchema, request.body, "body");
      const closed = await deps.reviews.close(principalOf(request), id, note);
      request.log.info({ reviewId: id, requestId: closed.requestId }, "review closed");
      return { review: deps.reviews.view(closed) };
    });

    // Explains for any subject: the policy is not a secret from the people it governs, and saying
    // why lets them ask for the right access instead of probing with requests.
    scope.get("/policy/explain", async (request) => {
      const q = parseInput(explainQuerySchema, request.query, "query");
      const agent = deps.inventory.agents.get(q.target);
      if (!agent)
        throw new ControllerError("KH_UNKNOWN_TARGET", `target "${q.target}" is not in the inventory`);
      const policy = deps.policy instanceof LivePolicy ? deps.policy.snapshot() : deps.policy;
      // "Why can't I …?": asking about yourself without --groups uses the groups your token carries.
      const caller = principalOf(request);
      const groups = q.groups.length === 0 && q.subject === caller.subject ? caller.groups : q.groups;
      return {
        explanation: explain(policy, { subject: q.subject, groups }, q.action, agent.environment, q.target),
      };
    });
  };
}
