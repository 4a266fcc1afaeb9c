/** A failure the CLI reports as one line on stderr and an exit code (2 = usage, 1 = anything else). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** A usage error: wrong or missing arguments. */
export function usageError(message: string): CliError {
  return new CliError(message, 2, "KH_USAGE");
}

/** Start-up configuration problems are usage errors (exit 2) with every problem listed. */
export function startupError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  const message = (err as Error).message ?? String(err);
  // Bad flags, variables, policy or inventory files: fix the input and start again.
  const usage = /^invalid /.test(message);
  return new CliError(message, usage ? 2 : 1, usage ? "KH_USAGE" : "KH_STARTUP", { cause: err });
}
