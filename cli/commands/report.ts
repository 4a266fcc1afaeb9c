/**
 * `keyhole report --since 30d [--format md|json]`: the access evidence report for a reviewer, from
 * the audit chain in the data dir (or an export with --file), its own verification included. Exits 0
 * only when the chain verified against a key the reviewer pinned; 1 when it is broken, 3 when it is
 * not verified against a pinned key (the report is written either way, and says so first).
 */
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { CliError, usageError } from "../errors.js";
import { multiLine, printLine } from "../output.js";

export function registerReportCommand(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("report")
    .description(
      "access evidence for a period: requests by person, action and environment, approvals, break-glass and reviews, refusals, artifacts and downloads, mapped to OWASP NHI3 and NIST CSF 2.0 PR.AA",
    )
    .option(
      "--since <when>",
      "the period's start: a duration back from now (30d, 12h) or a date (2026-01-31)",
      "30d",
    )
    .option("--format <format>", "md (Markdown) or json", "md")
    .option("--file <file>", "report from an export (`keyhole audit export`) instead of the data dir")
    .option(
      "--key <jwks>",
      "the audit public key to pin: your own copy, obtained out of band (docs/audit.md)",
    )
    .option("--key-fingerprint <fp>", "the audit key's fingerprint to pin (audit-<thumbprint>)")
    .option("--out <file>", "write the report to FILE instead of stdout")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option(
      "--database <url>",
      "the controller's database, when not the data dir's SQLite (KEYHOLE_DATABASE)",
    )
    .option("--json", "the same as --format json")
    .action(async (opts) => {
      const format = opts.json ? "json" : String(opts.format);
      if (format !== "md" && format !== "json") throw usageError("--format must be md or json");
      const { auditReport } = await import("../../controller/audit/cli.js");
      const { renderMarkdown } = await import("../../controller/audit/report.js");
      const { ConfigError } = await import("../../controller/errors.js");
      let report: Awaited<ReturnType<typeof auditReport>>;
      try {
        report = await auditReport({
          dataDir: opts.dataDir,
          database: opts.database,
          env,
          since: opts.since,
          ...(opts.file ? { file: opts.file } : {}),
          ...(opts.key ? { key: opts.key } : {}),
          ...(opts.keyFingerprint ? { keyFingerprint: opts.keyFingerprint } : {}),
        });
      } catch (err) {
        if (err instanceof ConfigError)
          throw new CliError(err.message.replace(/:\n\s+/, ": ").replace(/\n\s+/g, "; "), 2, "KH_USAGE", {
            cause: err,
          });
        throw err;
      }
      // JSON is exact; the Markdown escapes what it quotes from the chain, and again here (attack F2).
      const text =
        format === "json" ? `${JSON.stringify(report, null, 2)}\n` : multiLine(renderMarkdown(report));
      if (opts.out) await writeFile(opts.out, text, { mode: 0o600 });
      else process.stdout.write(text);
      if (opts.out && format === "md") printLine(`report written to ${opts.out}`);
      // The report is written either way; its exit says whether it is evidence.
      if (report.chain.status === "broken")
        throw new CliError(`the audit chain is broken: ${report.chain.problem}`, 1, "KH_AUDIT_BROKEN");
      if (report.chain.status === "unpinned")
        throw new CliError(`audit chain ${report.chain.problem}`, 3, "KH_AUDIT_UNPINNED");
    });
}
