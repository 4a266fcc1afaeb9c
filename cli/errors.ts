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
