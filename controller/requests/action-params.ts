/**
 * The wire contract checked when something is filed: a request, a collection or a trigger rule names
 * an action of the catalogue with params its schema accepts (protocol/actions.ts, the schemas the
 * agent parses with) and an output mode the action answers in, or it is refused with a coded 400 and
 * nothing is created. Nobody is asked to approve a request that no agent could run.
 */
import type { z } from "zod";
import { ACTION_PARAMS, actionParamsProblem, outputModeProblem } from "../../protocol/actions.js";
import { ControllerError } from "../errors.js";

/** The catalogue filings are checked against: the wire contract's (tests may add an action of theirs). */
export type ActionCatalogue = ReadonlyMap<string, z.ZodType>;

/**
 * Throws KH_UNKNOWN_ACTION or KH_BAD_PARAMS unless `params` are what `action` accepts and, when
 * `output` is given, the action answers in that mode (a heap snapshot only streams).
 */
export function assertActionParams(
  action: string,
  params: unknown,
  catalogue: ActionCatalogue = ACTION_PARAMS,
  output?: "inline" | "stream" | "s3",
): void {
  const problem = actionParamsProblem(action, params, catalogue);
  if (problem)
    throw new ControllerError(
      problem.kind === "unknown-action" ? "KH_UNKNOWN_ACTION" : "KH_BAD_PARAMS",
      problem.message,
    );
  const outputProblem = output === undefined ? undefined : outputModeProblem(action, output);
  if (outputProblem) throw new ControllerError("KH_BAD_PARAMS", `${outputProblem} (the request's output)`);
}
