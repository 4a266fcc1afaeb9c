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

export const cpuProfileParams = z.strictObject({ seconds: z.number().int().min(1).max(60) });

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
