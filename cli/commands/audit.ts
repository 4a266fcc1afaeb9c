/**
 * `keyhole audit export|verify|key`: the audit chain, read straight from the controller's data dir
 * (or `--database`), like `keyhole token`. Verify exits 0 only when the chain is intact against a key
 * the verifier pinned (`--key FILE` or `--key-fingerprint FP`), 1 naming the first broken record,
 * 3 when it is consistent but not verified against a pinned key, 2 on a usage or configuration
 * problem.
 */
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { printJson, printLine } from "../output.js";

const DATA_DIR_HELP = "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)";
const DATABASE_HELP = "the controller's database, when not the data dir's SQLite (KEYHOLE_DATABASE)";
const AUDIT_KEY_HELP = "the audit key file, when not the data dir's (KEYHOLE_AUDIT_KEY)";

/** A configuration problem (no data dir, unreadable key) is a usage-level failure: exit 2. */
async function configErrorsExit2<T>(fn: () => Promise<T>): Promise<T> {
  const { ConfigError } = await import("../../controller/errors.js");
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliError(err.message.replace(/:\n\s+/, ": ").replace(/\n\s+/g, "; "), 2, "KH_USAGE", {
        cause: err,
      });
    throw err;
  }
}

export function registerAuditCommands(program: Command, env: NodeJS.ProcessEnv): void {
  const audit = program
    .command("audit")
    .description(
      "the tamper-evident audit chain: export it, verify it, get the key that signs its checkpoints",
    );
  audit
    .command("export")
    .description("sign a checkpoint of the chain's head and write the chain up to it as JSON Lines")
    .requiredOption("--out <file>", "where to write (mode 0600; replaced atomically)")
    .option("--data-dir <dir>", DATA_DIR_HELP)
    .option("--database <url>", DATABASE_HELP)
    .option("--audit-key <file>", AUDIT_KEY_HELP)
    .option("--json", "print JSON")
    .action(async (opts) => {
      const { exportAudit } = await import("../../controller/audit/cli.js");
      const summary = await configErrorsExit2(() =>
        exportAudit({
          dataDir: opts.dataDir,
          database: opts.database,
          auditKey: opts.auditKey,
          env,
          out: opts.out,
        }),
      );
      if (opts.json) printJson(summary);
      else
        printLine(
          `exported records 1-${summary.head.seq} and ${summary.checkpoints} checkpoint(s) to ${summary.out}; head ${summary.head.hash} signed by ${summary.kid}`,
        );
    });
  audit
    .command("verify")
    .description(
      "prove the chain intact against a key you pinned (the live one in the data dir, or an exported --file), or name the first record that was changed, deleted, inserted or reordered",
    )
    .option("--file <file>", "an export written by `keyhole audit export`")
    .option(
      "--key <jwks>",
      "the audit public key to pin: your own copy, obtained out of band (docs/audit.md)",
    )
    .option(
      "--key-fingerprint <fp>",
      "the audit key's fingerprint to pin (audit-<thumbprint>, as `keyhole audit key --fingerprint` prints it)",
    )
    .option("--data-dir <dir>", DATA_DIR_HELP)
    .option("--database <url>", DATABASE_HELP)
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExit codes: 0 intact against the pinned key, 1 broken, 2 usage or configuration,\n3 consistent but NOT verified against a pinned key (no --key or --key-fingerprint, or no\ncheckpoint signed by it yet): a key inside an export or beside the database proves nothing.",
    )
    .action(async (opts) => {
      const { verifyAuditFile, verifyAuditStore } = await import("../../controller/audit/cli.js");
      const location = { dataDir: opts.dataDir, database: opts.database, env };
      const pins = { key: opts.key, keyFingerprint: opts.keyFingerprint };
      const report = await configErrorsExit2(() =>
        opts.file
          ? verifyAuditFile({ ...location, ...pins, file: opts.file })
          : verifyAuditStore({ ...location, ...pins }),
      );
      if (opts.json) printJson(report);
      else if (report.status === "intact") {
        const signed = report.lastCheckpoint
          ? `signed up to record ${report.lastCheckpoint.seq} (${report.lastCheckpoint.time})`
          : "no signed checkpoint yet";
        printLine(
          `ok: ${report.records} records, 1-${report.lastSeq}, intact; ${signed}; key from ${report.keySource}`,
        );
        if (report.unsignedTail > 0)
          printLine(
            `note: the last ${report.unsignedTail} record(s) are chained but not yet covered by a signed checkpoint`,
          );
      } else if (report.status === "unpinned") {
        printLine(
          `NOT VERIFIED against a pinned key: ${report.records} records, 1-${report.lastSeq}, consistent, but ${report.unpinnedReason}`,
        );
      }
      if (report.status === "broken") {
        const problem = report.problem!;
        throw new CliError(`audit chain broken (${problem.kind}): ${problem.message}`, 1, "KH_AUDIT_BROKEN");
      }
      if (report.status === "unpinned")
        throw new CliError(
          `audit chain not verified against a pinned key: ${report.unpinnedReason}`,
          3,
          "KH_AUDIT_UNPINNED",
        );
    });
  audit
    .command("key")
    .description(
      "print the public key that signs audit checkpoints (JWKS), or its fingerprint, for verifiers to pin out of band",
    )
    .option("--data-dir <dir>", DATA_DIR_HELP)
    .option("--audit-key <file>", AUDIT_KEY_HELP)
    .option("--fingerprint", "print only the key's fingerprint (audit-<RFC 7638 thumbprint>)")
    .action(async (opts) => {
      const { auditPublicKey } = await import("../../controller/audit/cli.js");
      const { keys, fingerprint } = await configErrorsExit2(() =>
        auditPublicKey({ dataDir: opts.dataDir, auditKey: opts.auditKey, env }),
      );
      if (opts.fingerprint) printLine(fingerprint);
      else printJson({ keys });
    });
}
