/**
 * `keyhole reviews` lists break-glass reviews (open ones by default) and warns loudly about overdue
 * ones; `keyhole review close ID --note …` closes one (someone other than the break-glass user).
 */
import type { Command } from "commander";
import { ControllerClient } from "../client.js";
import { usageError } from "../errors.js";
import { note, oneLine, printJson, printLine, table } from "../output.js";

export interface ReviewView {
  id: string;
  requestId: string;
  status: "open" | "closed";
  subject: string;
  action: string;
  target: string;
  environment: string;
  reason: string;
  ticket: string;
  openedAt: string;
  overdue: boolean;
  closedAt?: string;
  closedBy?: string;
  note?: string;
}

const STATUSES = ["open", "closed", "all"];

/** 86400 → "24h", 5400 → "90m", 2 → "2s". */
function hours(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

export function registerReviewCommands(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("reviews")
    .description("list break-glass reviews (open ones by default); overdue ones are flagged")
    .option("--status <status>", `open, closed or all`, "open")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(async (opts) => {
      if (!STATUSES.includes(opts.status)) throw usageError(`--status must be one of ${STATUSES.join(", ")}`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        throw usageError("--limit must be an integer from 1 to 500");
      const answer = await ControllerClient.fromEnv(env).call<{
        reviews: ReviewView[];
        overdue: number;
        overdueAfterSeconds: number;
      }>("GET", `/v1/reviews?status=${opts.status}&limit=${limit}`);
      if (answer.overdue > 0) {
        // On stderr even with --json, so a script's log shows it too.
        note(
          `WARNING: ${answer.overdue} break-glass review(s) open for more than ${hours(answer.overdueAfterSeconds)}: close them with \`keyhole review close ID --note …\``,
        );
      }
      if (opts.json) {
        printJson(answer);
        return;
      }
      if (answer.reviews.length === 0) {
        printLine(`no ${opts.status === "all" ? "" : `${opts.status} `}reviews`);
        return;
      }
      printLine(
        table([
          ["ID", "STATUS", "SUBJECT", "ACTION", "TARGET", "TICKET", "OPENED", "CLOSED BY"],
          ...answer.reviews.map((r) => [
            r.id,
            r.overdue ? "OVERDUE" : r.status,
            r.subject,
            r.action,
            r.target,
            r.ticket,
            r.openedAt,
            r.closedBy ?? "",
          ]),
        ]),
      );
    });

  program
    .command("review")
    .description("act on a break-glass review")
    .command("close")
    .description("close a break-glass review with a note (not your own)")
    .argument("<id>", "the review id")
    .requiredOption("--note <text>", "what the review found (recorded in the audit log)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      if (!String(opts.note).trim()) throw usageError("--note must not be empty");
      const { review } = await ControllerClient.fromEnv(env).call<{ review: ReviewView }>(
        "POST",
        `/v1/reviews/${encodeURIComponent(id)}/close`,
        { note: opts.note },
      );
      if (opts.json) printJson({ review });
      else printLine(oneLine(`review ${review.id} closed by ${review.closedBy} at ${review.closedAt}`));
    });
}
