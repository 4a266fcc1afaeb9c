/**
 * `keyhole token issue|revoke`: controller-issued bearer tokens, written straight to the controller's
 * store (the data dir's SQLite, or `--database postgres://…`).
 */
import type { Command } from "commander";
import { note, printJson, printLine } from "../output.js";

const DATABASE_HELP = "the controller's database, when not the data dir's SQLite (KEYHOLE_DATABASE)";

export function registerTokenCommands(program: Command, env: NodeJS.ProcessEnv): void {
  const token = program
    .command("token")
    .description("controller-issued bearer tokens (only their hashes are stored)");
  token
    .command("issue")
    .description("issue a token for a person or a service; prints it once")
    .requiredOption("--subject <subject>", "user:<email> or svc:<name>")
    .option("--groups <g1,g2>", "groups the policy can bind roles to")
    .option("--ttl <duration>", "lifetime: 90s, 30m, 8h, 7d", "8h")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--database <url>", DATABASE_HELP)
    .option("--json", "print JSON")
    .action(async (opts) => {
      const { issueToken } = await import("../../controller/identity/cli.js");
      const groups = opts.groups
        ? String(opts.groups)
            .split(",")
            .map((g: string) => g.trim())
            .filter(Boolean)
        : [];
      const issued = await issueToken({
        dataDir: opts.dataDir,
        database: opts.database,
        env,
        subject: opts.subject,
        groups,
        ttl: opts.ttl,
      });
      if (opts.json) printJson(issued);
      else {
        printLine(issued.token);
        note(
          `token ${issued.id} for ${issued.subject}${groups.length ? ` (groups ${groups.join(",")})` : ""}, expires ${issued.expiresAt}`,
        );
      }
    });
  token
    .command("revoke")
    .description("revoke a token by its id")
    .argument("<id>", "the token id printed at issue")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--database <url>", DATABASE_HELP)
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      const { revokeToken } = await import("../../controller/identity/cli.js");
      const revoked = await revokeToken({ dataDir: opts.dataDir, database: opts.database, env, id });
      if (opts.json) printJson(revoked);
      else printLine(`token ${revoked.id} revoked at ${revoked.revokedAt}`);
    });
}
