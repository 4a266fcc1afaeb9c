/**
 * What every `keyhole` entry shares: the root command's configuration and the mapping of a run's
 * outcome to an exit code (0 success, 2 usage errors, 1 any other failure, with one line on stderr
 * saying why). The full CLI (program.ts) and the agent image's entry (agent-main.ts) both use it,
 * so the agent answers alike whichever of them started it.
 */
import { Command, CommanderError } from "commander";
import { safeText } from "../common/safe-text.js";
import { CliError } from "./errors.js";
import { jsonPrinted } from "./json-output.js";

/**
 * A failure's message may quote a controller, an agent or a request: shown with every control and
 * invisible character escaped (attack F2), its line breaks kept (a config error lists its problems).
 * safe-text directly, not cli/output.ts: the agent image holds only what its entry needs.
 */
const MULTI_LINE = { newlines: true, tabs: true } as const;

/** The root `keyhole` command, without subcommands. */
export function newKeyholeProgram(): Command {
  return new Command("keyhole")
    .description("remote diagnostics for shell-less production: signed, audited, read-only actions")
    .version("0.1.0")
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`keyhole: ${text.replace(/^error: /, "")}`) });
}

function printJsonError(code: string, message: string, exitCode: number): void {
  // The line for people may start with the code ("KH_NOT_FOUND: no …"); the document names it once.
  const text = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
  process.stdout.write(`${JSON.stringify({ error: { code, message: text, exitCode } }, null, 2)}\n`);
}

let pipesGuarded = false;

/**
 * A reader that goes away (`keyhole approve ID --yes | head -1`) must not crash the command with a
 * stack trace after it acted (console attack F9): writes to a closed pipe are dropped, and the
 * exit code stays the outcome's. Any other stream error still surfaces.
 */
function guardPipes(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") return;
      throw err;
    });
  }
}

/** Parses `argv` (without node and the script) and runs the chosen command; resolves to the exit code. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  guardPipes();
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message already; --help and --version are successes.
      if (err.exitCode === 0) return 0;
      if (argv.includes("--json")) printJsonError("KH_USAGE", err.message.replace(/^error: /, ""), 2);
      return 2;
    }
    // Under --json a failure is a JSON document on stdout too (unless the command printed its own),
    // so a script reads one shape whatever happened; the line on stderr stays for people.
    const json = argv.includes("--json") && !jsonPrinted();
    if (err instanceof CliError) {
      process.stderr.write(`keyhole: ${safeText(err.message, MULTI_LINE)}\n`);
      if (json) printJsonError(err.code ?? "KH_ERROR", err.message, err.exitCode);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`keyhole: ${safeText(message, MULTI_LINE).split("\n").join("\n  ")}\n`);
    if (json) printJsonError("KH_ERROR", message, 1);
    return 1;
  }
}
