/**
 * The `keyhole` command's definition. Thin: it parses arguments and calls the same modules the services use,
 * or the controller's HTTP API. Exit codes: 0 success, 2 usage errors, 1 any other failure, with
 * one line on stderr saying why.
 */
import { Command, CommanderError } from "commander";
import { registerAgentCommands } from "./commands/agents.js";
import { registerArtifactCommands } from "./commands/artifacts.js";
import { registerAuditCommands } from "./commands/audit.js";
import { registerCollectionCommands } from "./commands/collections.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerKeyCommands } from "./commands/keys.js";
import { registerPolicyCommands } from "./commands/policy.js";
import { registerRedactCommand } from "./commands/redact.js";
import { registerReportCommand } from "./commands/report.js";
import { registerRequestCommands } from "./commands/requests.js";
import { registerReviewCommands } from "./commands/reviews.js";
import { registerServiceCommands } from "./commands/services.js";
import { registerTokenCommands } from "./commands/token.js";
import { CliError } from "./errors.js";

export function buildProgram(env: NodeJS.ProcessEnv): Command {
  const program = new Command("keyhole")
    .description("remote diagnostics for shell-less production: signed, audited, read-only actions")
    .version("0.1.0")
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`keyhole: ${text.replace(/^error: /, "")}`) });
  registerRequestCommands(program, env);
  registerArtifactCommands(program, env);
  registerCollectionCommands(program, env);
  registerTokenCommands(program, env);
  registerAgentCommands(program, env);
  registerPolicyCommands(program, env);
  registerReviewCommands(program, env);
  registerKeyCommands(program);
  registerServiceCommands(program, env);
  registerDemoCommand(program, env);
  registerRedactCommand(program);
  registerAuditCommands(program, env);
  registerReportCommand(program, env);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const program = buildProgram(env);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message already; --help and --version are successes.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      process.stderr.write(`keyhole: ${err.message}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`keyhole: ${message.split("\n").join("\n  ")}\n`);
    return 1;
  }
}
