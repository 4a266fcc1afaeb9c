/** `keyhole run`, `approve`, `deny`, `requests`: the controller's request API from the shell. */
import { writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { ACTION_OUTPUTS } from "../../protocol/actions.js";
import { ControllerClient, type RequestView, TERMINAL_STATUSES } from "../client.js";
import { CliError, usageError } from "../errors.js";
import { note, oneLine, printJson, printLine } from "../output.js";
import { collect, parseParams } from "../params.js";
import {
  actionResultOf,
  relativeTime,
  renderResult,
  requestDetails,
  requestSummary,
  requestsTable,
} from "../render.js";
import { decideCollection, runCollection } from "./collections.js";
import { confirm } from "./login.js";

const STATUSES = ["pending", "approved", "dispatched", "completed", "failed", "denied", "expired"];
const OUTPUTS = ["inline", "stream", "s3"] as const;

/** How `action` answers unless told: the first output mode the action catalogue lists for it. */
export function defaultOutput(action: string): "inline" | "stream" {
  return ACTION_OUTPUTS.get(action)?.[0] ?? "inline";
}

function parseTimeout(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw usageError("--timeout must be a positive number of seconds");
  return seconds;
}

/**
 * Says at once that a request waits for approval, who may approve it and where its console page is;
 * then keeps one status line up to date on a terminal (each change on its own line otherwise).
 */
async function announcePending(client: ControllerClient, request: RequestView): Promise<void> {
  const approvers = await client.approvers(request.id);
  // Each line is the controller's words: shown on one line, so none can add lines of its own.
  note(
    [
      `waiting for approval: ${request.approvals.length}/${request.approvalsRequired} in ${request.environment}, expires ${request.expiresAt} (${relativeTime(request.expiresAt)})`,
      `  may approve: ${approvers.length ? approvers.join(", ") : "nobody the policy names (ask your administrator)"} — not you`,
      `  console:     ${client.consoleLink("requests", request.id)}`,
      `  or they run: keyhole approve ${request.id}`,
    ]
      .map(oneLine)
      .join("\n"),
  );
}

/** Polls until the request reaches a final state or the deadline passes. */
async function waitForFinal(
  client: ControllerClient,
  request: RequestView,
  timeoutSeconds: number,
  quiet: boolean,
) {
  const started = Date.now();
  const deadline = started + timeoutSeconds * 1000;
  let delay = 100;
  let lastStatus = request.status;
  const live = !quiet && Boolean(process.stderr.isTTY);
  const statusLine = (r: RequestView) =>
    `${r.status}${r.status === "pending" ? ` · approvals ${r.approvals.length}/${r.approvalsRequired} · expires ${relativeTime(r.expiresAt)}` : ""} · waited ${Math.round((Date.now() - started) / 1000)}s`;
  if (!quiet && request.status === "pending") await announcePending(client, request);
  try {
    while (!TERMINAL_STATUSES.has(request.status)) {
      if (Date.now() >= deadline) {
        throw new CliError(
          `gave up waiting after ${timeoutSeconds}s; request ${request.id} is ${request.status}`,
          1,
          "KH_WAIT_TIMEOUT",
        );
      }
      if (live) process.stderr.write(`\r\x1b[2K${oneLine(statusLine(request))}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 1000);
      ({ request } = await client.getRequest(request.id));
      if (!quiet && !live && request.status !== lastStatus) note(`… ${request.status}`);
      lastStatus = request.status;
    }
  } finally {
    if (live) process.stderr.write(`\r\x1b[2K${oneLine(statusLine(request))}\n`);
  }
  return request;
}

/** Prints a request (and its result when done); fails the command unless it completed. */
async function report(
  request: RequestView,
  opts: { json?: boolean; out?: string },
  requireCompleted: boolean,
  details = false,
) {
  if (opts.out && request.status === "completed") {
    await writeFile(opts.out, `${JSON.stringify(actionResultOf(request), null, 2)}\n`, { mode: 0o600 });
  }
  if (opts.json) printJson({ request, ...(request.artifactId ? { artifactId: request.artifactId } : {}) });
  else {
    printLine(requestSummary(request));
    // Who asked, why, with what, until when, approved by whom (`status`, `approve`).
    if (details) printLine(requestDetails(request));
    if (request.status === "completed") {
      if (opts.out) printLine(`result written to ${opts.out}`);
      else printLine(renderResult(request.action, actionResultOf(request)));
      // A stream or s3 result is stored as an artifact: say how to fetch it (digest-checked).
      if (request.artifactId) printLine(`download: keyhole artifacts get ${request.artifactId}`);
    }
  }
  if (!requireCompleted) return;
  if (request.status === "failed") {
    // The agent's message is its own text: one line, nothing a terminal acts on.
    throw new CliError(
      oneLine(
        `request ${request.id} failed: ${request.error?.code ?? ""} ${request.error?.message ?? ""}`.trim(),
      ),
      1,
      request.error?.code,
    );
  }
  if (request.status === "denied") {
    throw new CliError(
      oneLine(`request ${request.id} was denied by ${request.denial?.by}: ${request.denial?.reason}`),
      1,
      "KH_DENIED",
    );
  }
  if (request.status === "expired")
    throw new CliError(`request ${request.id} expired before it was approved`, 1, "KH_EXPIRED");
}

export function registerRequestCommands(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("run")
    .description("ask the controller to run one diagnostic action on one agent (KEYHOLE_URL, KEYHOLE_TOKEN)")
    .argument("<action>", "the action, e.g. process-info or env")
    .option("--target <agent>", "the agent id, as `keyhole agents` lists it (or --selector)")
    .option("--selector <k=v,…>", "every online agent whose labels match: one collection (docs/fleet.md)")
    .option("--environment <env>", "with --selector: only agents of this environment")
    .option(
      "--max-concurrency <n>",
      "with --selector: targets in flight at once (default 10; 1 for heap-snapshot, cpu-profile, class-histogram)",
    )
    .option(
      "--max-errors <N|P%>",
      "with --selector: stop starting targets once more than N (or P% of them) failed",
    )
    .option(
      "--param <key=value>",
      "an action parameter (repeatable); values that parse as JSON are JSON",
      collect,
      [],
    )
    .requiredOption("--reason <text>", "why you need it (recorded in the audit log)")
    .option("--ticket <id>", "the incident or change ticket")
    .option("--out <file>", "write the action's result to FILE (mode 0600)")
    .option(
      "--output <mode>",
      "inline (JSON result), stream (through the controller into the artifact store) or s3 (the agent uploads with presigned URLs); default: how the action answers (stream for heap-snapshot and bundle, inline otherwise)",
    )
    .option("--wait", "wait for the result (or for approval, then the result)")
    .option("--timeout <seconds>", "with --wait, how long to wait", "300")
    .option(
      "--break-glass",
      "skip approval where the environment allows it (needs --ticket; opens a review someone else must close)",
    )
    .option("--json", "print JSON")
    .action(async (action: string, opts) => {
      const timeout = parseTimeout(opts.timeout);
      // Heavy actions work as typed: one that only streams (heap-snapshot, bundle) streams unless told.
      opts.output ??= defaultOutput(action);
      if (!OUTPUTS.includes(opts.output)) throw usageError(`--output must be one of ${OUTPUTS.join(", ")}`);
      if (opts.selector !== undefined || opts.target === undefined)
        return runCollection(action, opts, env, timeout);
      if (opts.breakGlass && !opts.ticket)
        throw usageError("--break-glass needs --ticket (the incident it is for)");
      const client = ControllerClient.fromEnv(env);
      let { request } = await client.createRequest({
        action,
        target: opts.target,
        params: parseParams(opts.param),
        reason: opts.reason,
        ...(opts.ticket ? { ticket: opts.ticket } : {}),
        output: opts.output,
        ...(opts.breakGlass ? { breakGlass: true } : {}),
      });
      if (request.breakGlass && !opts.json)
        note(
          `break-glass: sent without approval; a review stays open until someone else closes it (keyhole reviews)`,
        );
      if (opts.wait) request = await waitForFinal(client, request, timeout, Boolean(opts.json));
      else if (!opts.json && request.status === "pending") await announcePending(client, request);
      await report(request, opts, Boolean(opts.wait));
    });

  program
    .command("approve")
    .description("approve someone else's pending request (four eyes)")
    .argument("<id>", "the request id")
    .option("--note <text>", "a note recorded with the approval")
    .option("--yes", "do not ask for confirmation on a terminal (scripts never get asked)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      if (await decideCollection("approve", id, opts, env)) return;
      const client = ControllerClient.fromEnv(env);
      // What is approved is shown before it is approved: an approver sees requester, params, reason.
      // On a terminal, what is approved is shown first and confirmed; a script (or --yes) is not
      // asked, and sees the same facts with the outcome on stdout.
      if (!opts.yes && process.stdin.isTTY && process.stderr.isTTY) {
        const { request: shown } = await client.getRequest(id);
        note(requestSummary(shown));
        note(requestDetails(shown));
        if (!(await confirm(`Approve ${shown.action} on ${shown.target} for ${shown.subject}?`)))
          throw new CliError("not approved", 1, "KH_CANCELLED");
      }
      const { request } = await client.approve(id, opts.note);
      await report(request, opts, false, true);
    });

  program
    .command("deny")
    .description("deny a pending request, with a reason")
    .argument("<id>", "the request id")
    .requiredOption("--reason <text>", "why (recorded in the audit log and shown to the requester)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      if (await decideCollection("deny", id, opts, env)) return;
      const { request } = await ControllerClient.fromEnv(env).deny(id, opts.reason);
      await report(request, opts, false);
    });

  program
    .command("status")
    .description("show one request (and its result once done)")
    .argument("<id>", "the request id")
    .option("--wait", "wait until the request is completed, failed, denied or expired")
    .option("--timeout <seconds>", "with --wait, how long to wait", "300")
    .option("--out <file>", "write the action's result to FILE (mode 0600)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      const timeout = parseTimeout(opts.timeout);
      const client = ControllerClient.fromEnv(env);
      let { request } = await client.getRequest(id);
      if (opts.wait) request = await waitForFinal(client, request, timeout, Boolean(opts.json));
      // A finished request exits as `run --wait` does for the same outcome.
      await report(request, opts, TERMINAL_STATUSES.has(request.status), true);
    });

  program
    .command("requests")
    .description("list requests, newest first")
    .option("--status <status>", `only requests in this state (${STATUSES.join(", ")})`)
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(async (opts) => {
      if (opts.status && !STATUSES.includes(opts.status)) {
        throw usageError(`--status must be one of ${STATUSES.join(", ")}`);
      }
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw usageError("--limit must be an integer from 1 to 1000");
      const { requests } = await ControllerClient.fromEnv(env).listRequests({ status: opts.status, limit });
      if (opts.json) printJson({ requests });
      else printLine(requestsTable(requests));
    });
}
