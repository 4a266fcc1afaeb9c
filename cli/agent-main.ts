/**
 * Entry point of the agent image: `keyhole` with the `agent` command alone. It answers
 * `keyhole agent …` with the same flags, `KEYHOLE_*` variables, help and exit codes as the full
 * CLI, and loads nothing of the controller or of the other commands (deploy/agent-bundle.ts
 * bundles it; test/deploy/agent-bundle.test.ts checks what the bundle holds).
 */
import { registerAgentCommand } from "./commands/agent.js";
import { newKeyholeProgram, runProgram } from "./run-program.js";

const program = newKeyholeProgram();
registerAgentCommand(program, process.env);
const exitCode = await runProgram(program, process.argv.slice(2));
// The agent keeps the event loop alive itself.
if (exitCode !== 0) process.exit(exitCode);
