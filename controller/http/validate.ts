/**
 * Route input validation with zod: every body, query and path parameter goes through `parseInput`, so
 * no handler reads unvalidated input and every mismatch is the same coded 400.
 */
import type { z } from "zod";
import { ControllerError } from "../errors.js";

/** Parses `value` with `schema`, or throws KH_BAD_REQUEST listing each problem with its field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: "body" | "query" | "path",
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 10).map((issue) => {
    const field = [where, ...issue.path.map(String)].join(".");
    return issue.code === "unrecognized_keys"
      ? `${field}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`
      : `${field}: ${issue.message}`;
  });
  throw new ControllerError("KH_BAD_REQUEST", problems.join("; "));
}
