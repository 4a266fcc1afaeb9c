/** The zod schemas of every route's input. Strict: an unknown field is refused, never ignored. */
import { z } from "zod";
import { MAX_REASON_LENGTH } from "../../protocol/request.js";
import { OUTPUT_MODES, REQUEST_STATUSES } from "../store/types.js";

export const emptyQuerySchema = z.strictObject({});

/** Deepest nesting accepted in request params; real params are one or two levels deep. */
export const MAX_PARAMS_DEPTH = 16;

/**
 * Whether `value` nests at most `max` levels. Iterative: a 64 KiB body can nest ~30,000 levels,
 * and the recursive serialisers downstream (JSON.stringify, the audit chain's canonical JSON)
 * would overflow the stack on it.
 */
export function nestsAtMost(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== "object" || current === null) continue;
    if (depth >= max) return false;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return true;
}

export const createRequestBodySchema = z.strictObject({
  action: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "must be an action name"),
  target: z.string().min(1).max(253),
  params: z
    .record(z.string(), z.unknown())
    .refine((p) => nestsAtMost(p, MAX_PARAMS_DEPTH), `must nest at most ${MAX_PARAMS_DEPTH} levels`)
    .default({}),
  reason: z.string().trim().min(1).max(MAX_REASON_LENGTH),
  ticket: z.string().trim().min(1).max(200).optional(),
  /** How the result leaves the agent: inline JSON, a stream stored by the controller, or a direct S3 upload. */
  output: z.enum(OUTPUT_MODES).default("inline"),
  /** Skip approval where the environment allows break-glass; needs a ticket; opens a review. */
  breakGlass: z.boolean().default(false),
});

export const listArtifactsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const artifactIdParamsSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be an artifact id"),
});

export const listRequestsQuerySchema = z.strictObject({
  status: z.enum(REQUEST_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const requestIdParamsSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a request id"),
});

export const approveBodySchema = z.strictObject({
  note: z.string().trim().min(1).max(MAX_REASON_LENGTH).optional(),
});

export const denyBodySchema = z.strictObject({
  reason: z.string().trim().min(1).max(MAX_REASON_LENGTH),
});
