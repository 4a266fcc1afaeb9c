/**
 * Collections from the shell (docs/fleet.md): `keyhole run ACTION --selector …` files one, `keyhole
 * approve|deny ID` decide on one (the approver is shown the frozen target list and approves its
 * digest), `keyhole collections` lists them and `keyhole collection ID` shows one target by target.
 */
import { writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { ControllerClient } from "../client.js";
import { CliError, usageError } from "../errors.js";
import { note, oneLine, printJson, printLine, table } from "../output.js";
import { parseParams } from "../params.js";
import { paramsText } from "../render.js";
import { confirm } from "./login.js";

export interface CollectionTargetView {
  target: string;
  /** Absent while the collection waits for approval: no target has started. */
  status?: string;
  requestId?: string;
  error?: { code: string; message: string };
  result?: unknown;
  artifactId?: string;
}

export interface CollectionView {
  id: string;
  status: "pending" | "approved" | "running" | "completed" | "stopped" | "denied" | "expired";
  subject: string;
  action: string;
  selector: string;
  environment: string;
  reason: string;
  ticket?: string;
  params?: Record<string, unknown>;
  output: string;
  targets: CollectionTargetView[];
  targetsDigest: string;
  maxConcurrency: number;
  maxErrors: string;
  errorBudget: number;
  approvalsRequired: number;
  approvals: { subject: string; at: string }[];
  trigger?: { rule: string; fingerprint: string; alertname?: string };
  summary?: {
    targets: number;
    succeeded: number;
    failed: number;
    skipped: number;
    budgetSpent: boolean;
  };
  denial?: { by: string; reason: string };
}

const FINAL = new Set(["completed", "stopped", "denied", "expired"]);
const STATUSES = ["pending", "approved", "running", "completed", "stopped", "denied", "expired"];

const path = (id: string) => `/v1/collections/${encodeURIComponent(id)}`;

function headline(c: CollectionView): string {
  const approvals = c.approvalsRequired > 0 ? `, approvals ${c.approvals.length}/${c.approvalsRequired}` : "";
  return oneLine(
    `collection ${c.id} ${c.status}: ${c.action} on ${c.targets.length} agent(s) matching ${c.selector} (${c.environment}${approvals}, at most ${c.maxConcurrency} at once, max errors ${c.maxErrors})`,
  );
}

function summaryLine(c: CollectionView): string {
  const s = c.summary;
  if (!s) return "";
  return `${s.succeeded} succeeded, ${s.failed} failed, ${s.skipped} skipped${s.budgetSpent ? ` (error budget of ${c.errorBudget} spent)` : ""}`;
}

function detailOf(t: CollectionTargetView): string {
  if (t.error) return `${t.error.code}: ${t.error.message}`;
  if (t.artifactId) return `artifact ${t.artifactId}`;
  return t.requestId ? `request ${t.requestId}` : "";
}

/** The targets of a collection, one row each; a target of a collection still pending has not started. */
export function targetsTable(c: Pick<CollectionView, "targets">): string {
  return table([
    ["TARGET", "STATUS", "DETAIL"],
    ...c.targets.map((t) => [t.target, t.status ?? "not started", detailOf(t)]),
  ]);
}

/** Prints a collection; with `requireSuccess`, fails (exit 1, one line) unless every target completed. */
async function report(c: CollectionView, opts: { json?: boolean; out?: string }, requireSuccess: boolean) {
  if (opts.out && FINAL.has(c.status))
    await writeFile(opts.out, `${JSON.stringify(c.targets, null, 2)}\n`, { mode: 0o600 });
  if (opts.json) printJson({ collection: c });
  else {
    printLine(headline(c));
    printLine(targetsTable(c));
    if (c.summary) printLine(summaryLine(c));
    if (opts.out && FINAL.has(c.status)) printLine(`per-target results written to ${opts.out}`);
  }
  if (!requireSuccess) return;
  if (c.status === "denied")
    throw new CliError(
      oneLine(`collection ${c.id} was denied by ${c.denial?.by}: ${c.denial?.reason}`),
      1,
      "KH_DENIED",
    );
  if (c.status === "expired")
    throw new CliError(`collection ${c.id} expired before it was approved`, 1, "KH_EXPIRED");
  if (c.summary && c.summary.succeeded < c.summary.targets)
    throw new CliError(`collection ${c.id}: ${summaryLine(c)}`, 1, "KH_PARTIAL_FAILURE");
}

async function waitForFinal(
  client: ControllerClient,
  c: CollectionView,
  timeoutSeconds: number,
  quiet: boolean,
) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let delay = 100;
  let last = c.status;
  if (!quiet && c.status === "pending")
    note(`waiting for approval (${c.approvalsRequired} needed): keyhole approve ${c.id}`);
  while (!FINAL.has(c.status)) {
    if (Date.now() >= deadline)
      throw new CliError(
        `gave up waiting after ${timeoutSeconds}s; collection ${c.id} is ${c.status}`,
        1,
        "KH_WAIT_TIMEOUT",
      );
    await sleep(delay);
    delay = Math.min(delay * 2, 1000);
    ({ collection: c } = await client.call<{ collection: CollectionView }>("GET", path(c.id)));
    if (!quiet && c.status !== last) note(`… ${c.status}`);
    last = c.status;
  }
  return c;
}

/** `keyhole run ACTION --selector …`: the collection half of `run`. */
export async function runCollection(
  action: string,
  opts: Record<string, unknown> & { selector?: string; target?: string },
  env: NodeJS.ProcessEnv,
  timeoutSeconds: number,
): Promise<void> {
  if (opts.target !== undefined && opts.selector !== undefined)
    throw usageError("give --target (one agent) or --selector (a collection), not both");
  if (opts.selector === undefined) throw usageError("--target <agent> or --selector <k=v> is required");
  if (opts.breakGlass) throw usageError("--break-glass is for one target; a collection needs approval");
  let maxConcurrency: number | undefined;
  if (opts.maxConcurrency !== undefined) {
    maxConcurrency = Number(opts.maxConcurrency);
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 100)
      throw usageError("--max-concurrency must be an integer from 1 to 100");
  }
  const maxErrors = opts.maxErrors === undefined ? undefined : String(opts.maxErrors);
  if (maxErrors !== undefined && !/^\d{1,6}%?$/.test(maxErrors))
    throw usageError("--max-errors must be a count (e.g. 3) or a percentage (e.g. 10%)");
  const output = opts.output === undefined || opts.output === "inline" ? undefined : String(opts.output);
  if (output !== undefined && output !== "stream")
    throw usageError("a collection's --output is inline or stream");
  const client = ControllerClient.fromEnv(env);
  let { collection } = await client.call<{ collection: CollectionView }>("POST", "/v1/collections", {
    action,
    selector: opts.selector,
    ...(opts.environment ? { environment: opts.environment } : {}),
    params: parseParams((opts.param as string[] | undefined) ?? []),
    reason: opts.reason,
    ...(opts.ticket ? { ticket: opts.ticket } : {}),
    ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
    ...(maxErrors === undefined ? {} : { maxErrors }),
    ...(output ? { output } : {}),
  });
  if (opts.wait) collection = await waitForFinal(client, collection, timeoutSeconds, Boolean(opts.json));
  else if (!opts.json && collection.status === "pending")
    note(
      `needs ${collection.approvalsRequired} approval(s): another person runs \`keyhole approve ${collection.id}\``,
    );
  await report(collection, opts as { json?: boolean; out?: string }, Boolean(opts.wait));
}

/**
 * `keyhole approve ID` for a collection: shows the approver the frozen target list and approves
 * exactly it (its digest). Resolves false when ID is no collection (the caller tries a request).
 */
export async function decideCollection(
  verb: "approve" | "deny",
  id: string,
  opts: { note?: string; reason?: string; json?: boolean; yes?: boolean },
  env: NodeJS.ProcessEnv,
): Promise<boolean> {
  const client = ControllerClient.fromEnv(env);
  let shown: CollectionView;
  try {
    ({ collection: shown } = await client.call<{ collection: CollectionView }>("GET", path(id)));
  } catch (err) {
    if (err instanceof CliError && err.code === "KH_NOT_FOUND") return false;
    throw err;
  }
  // On a terminal an approval is confirmed, as a request's is: the approver sees who asked, why,
  // with what, and the frozen list whose digest they approve; a script (or --yes) is not asked.
  const ask = verb === "approve" && !opts.yes && Boolean(process.stdin.isTTY && process.stderr.isTTY);
  if (!opts.json || ask) {
    note(headline(shown));
    note(
      table([
        ["requester:", shown.subject],
        ["reason:", shown.reason],
        ["params:", paramsText(shown.params ?? {})],
        ["ticket:", shown.ticket ?? "-"],
      ]),
    );
    note(`targets (digest ${shown.targetsDigest}):`);
    for (const t of shown.targets) note(`  ${oneLine(t.target)}`);
  }
  if (
    ask &&
    !(await confirm(
      oneLine(`Approve ${shown.action} on these ${shown.targets.length} target(s) for ${shown.subject}?`),
    ))
  )
    throw new CliError("not approved", 1, "KH_CANCELLED");
  const { collection } =
    verb === "approve"
      ? await client.call<{ collection: CollectionView }>("POST", `${path(id)}/approve`, {
          ...(opts.note ? { note: opts.note } : {}),
          targetsDigest: shown.targetsDigest,
        })
      : await client.call<{ collection: CollectionView }>("POST", `${path(id)}/deny`, {
          reason: opts.reason,
        });
  if (opts.json) printJson({ collection });
  else printLine(headline(collection));
  return true;
}

export function registerCollectionCommands(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("collections")
    .description("list collections (one request over many agents), newest first")
    .option("--status <status>", `only collections in this state (${STATUSES.join(", ")})`)
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(async (opts) => {
      if (opts.status && !STATUSES.includes(opts.status))
        throw usageError(`--status must be one of ${STATUSES.join(", ")}`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        throw usageError("--limit must be an integer from 1 to 500");
      const search = new URLSearchParams({
        limit: String(limit),
        ...(opts.status ? { status: opts.status } : {}),
      });
      const { collections } = await ControllerClient.fromEnv(env).call<{ collections: CollectionView[] }>(
        "GET",
        `/v1/collections?${search}`,
      );
      if (opts.json) return printJson({ collections });
      if (collections.length === 0) return printLine("no collections");
      printLine(
        table([
          ["ID", "STATUS", "ACTION", "SELECTOR", "TARGETS", "RESULT"],
          ...collections.map((c) => [
            c.id,
            c.status,
            c.action,
            c.selector,
            String(c.targets.length),
            summaryLine(c) || "-",
          ]),
        ]),
      );
    });

  program
    .command("collection")
    .description("show one collection, target by target")
    .argument("<id>", "the collection id")
    .option("--wait", "wait until it is completed, stopped, denied or expired")
    .option("--timeout <seconds>", "with --wait, how long to wait", "600")
    .option("--out <file>", "write the per-target results as JSON to FILE (mode 0600)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw usageError("--timeout must be a positive number of seconds");
      const client = ControllerClient.fromEnv(env);
      let { collection } = await client.call<{ collection: CollectionView }>("GET", path(id));
      if (opts.wait) collection = await waitForFinal(client, collection, timeout, Boolean(opts.json));
      // A finished collection exits as `run --selector --wait` does for the same outcome.
      await report(collection, opts, FINAL.has(collection.status));
    });
}
