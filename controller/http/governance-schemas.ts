/** The zod schemas of the governance routes: reviews and policy explanations. Strict like every route. */
import { z } from "zod";
import { MAX_REASON_LENGTH } from "../../protocol/request.js";
import { canonicalGroupSchema, canonicalSubjectSchema } from "../identity/subject.js";

export const listReviewsQuerySchema = z.strictObject({
  status: z.enum(["open", "closed", "all"]).default("open"),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const reviewIdParamsSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a review id"),
});

export const closeReviewBodySchema = z.strictObject({
  note: z.string().trim().min(1, "a review is closed with a note").max(MAX_REASON_LENGTH),
});

export const explainQuerySchema = z.strictObject({
  /** Canonicalised like every subject the controller decides on. */
  subject: canonicalSubjectSchema,
  /** Comma-separated groups the subject is assumed to carry. */
  groups: z
    .string()
    .max(4096)
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((g) => g.trim())
        .filter(Boolean),
    )
    .pipe(z.array(canonicalGroupSchema).max(64)),
  action: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "must be an action name"),
  target: z.string().min(1).max(253),
});
