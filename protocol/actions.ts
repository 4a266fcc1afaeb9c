/**
 * The action catalogue's params (SPEC §3): one strict zod schema per action, the shape a request's
 * `params` claim must have. The agent parses every request with these (unknown keys refused); the
 * actions themselves live in agent/actions/.
 */
import * as z from "zod";
import { parseIsoTimestamp } from "./timestamp.js";

/** The largest `lines` a log-tail request may ask for. */
export const MAX_LOG_LINES = 10_000;

/** The most single actions one bundle may hold. */
export const MAX_BUNDLE_ENTRIES = 8;

/** The name of the action that bundles the others. */
export const BUNDLE_ACTION = "bundle";

/** Params of the actions that take none. */
export const noParams = z.strictObject({});

/** process-info, env, diagnostic-report and net-connections take no params. */
export const processInfoParams = noParams;
export const envParams = noParams;
export const diagnosticReportParams = noParams;
export const netConnectionsParams = noParams;

/** The longest cpu-profile of a Node target (its inspector's profile comes back as one message). */
export const MAX_NODE_PROFILE_SECONDS = 60;
/** The longest cpu-profile (a JFR recording) of a JVM target. */
export const MAX_JVM_PROFILE_SECONDS = 300;

/** `seconds` up to 300; a Node target refuses more than 60 (SPEC §7). */
export const cpuProfileParams = z.strictObject({
  seconds: z.number().int().min(1).max(MAX_JVM_PROFILE_SECONDS),
});

/** The JVM-only actions (SPEC §7). */
export const threadDumpParams = noParams;
export const vmInfoParams = noParams;
/** The most rows class-histogram returns. */
export const MAX_HISTOGRAM_ROWS = 1000;
export const classHistogramParams = z.strictObject({
  limit: z.number().int().min(1).max(MAX_HISTOGRAM_ROWS).default(100),
});

export const heapSnapshotParams = z.strictObject({ redact: z.boolean().default(true) });

const sinceSchema = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const millis = parseIsoTimestamp(value);
    if (millis === undefined) {
      ctx.issues.push({
        code: "custom",
        input: value,
        message: "must be an ISO-8601 date-time such as 2024-05-01T12:00:00Z (no zone means UTC)",
      });
      return z.NEVER;
    }
    return millis;
  });

export const logTailParams = z.strictObject({
  // Not min(1): an empty path is a path refusal (KH_PATH_DENIED), checked with the others.
  file: z.string().max(4096),
  lines: z.number().int().min(1).max(MAX_LOG_LINES).default(100),
  since: sinceSchema.optional(),
  // Line breaks and NUL could only match across a masked span or never; refusing them keeps
  // "matches the text outside masks" exact.
  contains: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[^\0\r\n\u2028\u2029]+$/, "must be one line of text")
    .optional(),
});
export type LogTailParams = z.output<typeof logTailParams>;

/**
 * A bundle's shape. Each entry's own params are checked by the agent against that action's schema
 * (and the action must be enabled there), so this schema alone does not accept a bundle.
 */
export const bundleParams = z.strictObject({
  actions: z
    .array(
      z.strictObject({
        action: z.string().min(1).max(64),
        params: z.record(z.string(), z.unknown()).default({}),
      }),
    )
    .min(1)
    .max(MAX_BUNDLE_ENTRIES),
  gzip: z.boolean().default(false),
});
export type BundleParams = z.output<typeof bundleParams>;

/**
 * The action catalogue: every action name and its params schema. A controller checks a request's
 * action and params against it when the request is filed, so a request no agent could run never
 * reaches an approver; the agent parses them again with the same schemas before it runs anything.
 */
export const ACTION_PARAMS: ReadonlyMap<string, z.ZodType> = new Map<string, z.ZodType>([
  ["process-info", processInfoParams],
  ["env", envParams],
  ["log-tail", logTailParams],
  ["heap-snapshot", heapSnapshotParams],
  ["cpu-profile", cpuProfileParams],
  ["diagnostic-report", diagnosticReportParams],
  ["net-connections", netConnectionsParams],
  ["thread-dump", threadDumpParams],
  ["class-histogram", classHistogramParams],
  ["vm-info", vmInfoParams],
  [BUNDLE_ACTION, bundleParams],
]);

/**
 * How each action of the catalogue answers: an inline JSON result, or a stream (an artifact, which
 * the `s3` output mode uploads with presigned URLs instead). The agent refuses any other mode with
 * KH_BAD_PARAMS; a controller refuses it when the request is filed.
 */
export const ACTION_OUTPUTS: ReadonlyMap<string, readonly ("inline" | "stream")[]> = new Map<
  string,
  readonly ("inline" | "stream")[]
>([
  ["process-info", ["inline"]],
  ["env", ["inline"]],
  ["log-tail", ["inline"]],
  ["heap-snapshot", ["stream"]],
  // A Node target's .cpuprofile is JSON (inline, or streamed as a file); a JVM's JFR recording is
  // binary and only streams (an inline request for a JVM target is refused with KH_BAD_PARAMS).
  ["cpu-profile", ["inline", "stream"]],
  ["diagnostic-report", ["inline"]],
  ["net-connections", ["inline"]],
  ["thread-dump", ["inline"]],
  ["class-histogram", ["inline"]],
  ["vm-info", ["inline"]],
  [BUNDLE_ACTION, ["stream"]],
]);

/** Why `action` cannot answer in output `mode`, or undefined when it can (or the action is not listed). */
export function outputModeProblem(action: string, mode: "inline" | "stream" | "s3"): string | undefined {
  const outputs = ACTION_OUTPUTS.get(action);
  if (!outputs || outputs.includes(mode === "s3" ? "stream" : mode)) return undefined;
  return `${action} answers with output mode ${outputs.join(" or ")}${outputs.includes("stream") ? " (or s3)" : ""}, not ${mode}`;
}

/** Why `params` are not what `action` accepts; undefined when they are. */
export type ActionParamsProblem =
  | { readonly kind: "unknown-action"; readonly message: string }
  | { readonly kind: "bad-params"; readonly message: string };

function describe(error: z.ZodError, prefix: (string | number)[] = []): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [...prefix, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))];
      return `${path.length > 0 ? path.join(".") : "params"}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Checks an action name and its params against the catalogue, a bundle's every entry included (each
 * a single action of the catalogue — a bundle holds no bundle — with params its schema accepts).
 * Whether an agent enables the action is the agent's to say.
 */
export function actionParamsProblem(
  action: string,
  params: unknown,
  catalogue: ReadonlyMap<string, z.ZodType> = ACTION_PARAMS,
): ActionParamsProblem | undefined {
  const schema = catalogue.get(action);
  if (!schema)
    return {
      kind: "unknown-action",
      message: `"${action}" is not an action (the catalogue: ${[...catalogue.keys()].join(", ")})`,
    };
  const parsed = schema.safeParse(params);
  if (!parsed.success)
    return { kind: "bad-params", message: `invalid params for ${action}: ${describe(parsed.error)}` };
  if (action !== BUNDLE_ACTION) return undefined;
  for (const [index, entry] of (parsed.data as BundleParams).actions.entries()) {
    const inner = entry.action === BUNDLE_ACTION ? undefined : catalogue.get(entry.action);
    if (!inner)
      return {
        kind: "bad-params",
        message: `invalid params for bundle: actions.${index}.action: ${entry.action === BUNDLE_ACTION ? "a bundle cannot contain a bundle" : `"${entry.action}" is not an action`}`,
      };
    const innerParsed = inner.safeParse(entry.params);
    if (!innerParsed.success)
      return {
        kind: "bad-params",
        message: `invalid params for bundle: ${describe(innerParsed.error, ["actions", index, "params"])}`,
      };
  }
  return undefined;
}
