/** The controller's pino logger. Redaction paths are fixed here, so a bearer token can never reach a log line. */
import { type DestinationStream, type Logger, pino } from "pino";

/** Paths pino blanks out; any header dump or stray field named like a credential is covered. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "request.headers.authorization",
  "authorization",
  "token",
  "*.token",
];

/** A JSON-lines logger on `destination` (stdout by default). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { service: "keyhole-controller" }, redact: { paths: REDACT_PATHS, censor: "[redacted]" } },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
