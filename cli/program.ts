/**
 * The `keyhole` command's definition. Thin: it parses arguments and calls the same modules the services use,
 * or the controller's HTTP API. Exit codes: 0 success, 2 usage errors, 1 any other failure, with
 * one line on stderr saying why.
 */
import type { Command } from "commander";
import { registerAgentCommands } from "./commands/agents.js";
import { registerArtifactCommands } from "./commands/artifacts.js";
import { registerAuditCommands } from "./commands/audit.js";
import { registerCollectionCommands } from "./commands/collections.js";
import { registerCompletionCommand } from "./commands/completion.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerKeyCommands } from "./commands/keys.js";
import { registerLoginCommands } from "./commands/login.js";
import { registerNatsCommands } from "./commands/nats.js";
import { registerPolicyCommands } from "./commands/policy.js";
import { registerRedactCommand } from "./commands/redact.js";
import { registerReportCommand } from "./commands/report.js";
import { registerRequestCommands } from "./commands/requests.js";
import { registerReviewCommands } from "./commands/reviews.js";
import { registerServiceCommands } from "./commands/services.js";
import { registerTokenCommands } from "./commands/token.js";
import { newKeyholeProgram, runProgram } from "./run-program.js";

export function buildProgram(env: NodeJS.ProcessEnv): Command {
  const program = newKeyholeProgram();
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
  registerLoginCommands(program, env);
  registerNatsCommands(program);
  // Last: its scripts are generated from every command registered before it (and itself).
  registerCompletionCommand(program);
  return program;
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runProgram(buildProgram(env), argv);
}
