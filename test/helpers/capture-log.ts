/** A real pino logger writing JSON lines into memory, so tests can assert what was logged (and what was not). */
import { Writable } from "node:stream";
import { createLogger } from "../../controller/logger.js";

export interface CapturedLog {
  readonly logger: ReturnType<typeof createLogger>;
  /** The sink itself, for code that builds its own logger (runController's logDestination). */
  readonly destination: Writable;
  /** Every line so far, parsed. */
  // biome-ignore lint/suspicious/noExplicitAny: log lines are read loosely
  lines(): any[];
  text(): string;
}

export function captureLog(level = "info"): CapturedLog {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = createLogger(level, sink);
  return {
    logger,
    destination: sink,
    text: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}
