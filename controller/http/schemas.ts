/** The zod schemas of every route's input. Strict: an unknown field is refused, never ignored. */
import { z } from "zod";
import { MAX_REASON_LENGTH } from "../../agent/protocol.js";
import { OUTPUT_MODES, REQUEST_STATUSES } from "../store/types.js";

export const emptyQuerySchema = z.strictObject({});

export const createRequestBodySchema = z.strictObject({
  action: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "must be an action name"),
  target: z.string().min(1).max(253),
  params: z.record(z.string(), z.unknown()).default({}),
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
