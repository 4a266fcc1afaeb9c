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
  const illFormed = findIllFormedString(value);
  if (illFormed !== undefined) {
    throw new ControllerError(
      "KH_BAD_REQUEST",
      `${[where, ...illFormed].join(".")}: a string holds a lone UTF-16 surrogate (not valid Unicode)`,
    );
  }
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

/** A lone surrogate: in a `u` regex, a surrogate half matches only when it is not part of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * The path of the first string (or key) in `value` that is not well-formed UTF-16, if any.
 * Such a string cannot be stored as text: SQLite and PostgreSQL keep U+FFFD in its place, so a
 * record hashed before storing would no longer match its hash when read back, and one request
 * could make the audit chain unverifiable. Iterative, so deep input cannot overflow the stack.
 */
export function findIllFormedString(value: unknown): string[] | undefined {
  // Each visited node keeps only its parent and key; the path is built once, on a finding.
  const parents: number[] = [-1];
  const keys: string[] = [""];
  const stack: [unknown, number][] = [[value, 0]];
  const pathOf = (node: number, last?: string) => {
    const path: string[] = last === undefined ? [] : [last];
    for (let at = node; at > 0; at = parents[at]!) path.unshift(keys[at]!);
    return path;
  };
  while (stack.length > 0) {
    const [current, node] = stack.pop()!;
    if (typeof current === "string") {
      if (LONE_SURROGATE.test(current)) return pathOf(node);
    } else if (typeof current === "object" && current !== null) {
      for (const [key, child] of Object.entries(current)) {
        if (LONE_SURROGATE.test(key)) return pathOf(node, "(a key)");
        parents.push(node);
        keys.push(key);
        stack.push([child, parents.length - 1]);
      }
    }
  }
  return undefined;
}
