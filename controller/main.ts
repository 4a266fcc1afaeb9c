/**
 * `runController(options, env)`: the `keyhole controller` command's body. Parses the config, builds the
 * controller, listens, and logs one `listening` line with the URL; handles SIGTERM/SIGINT (and SIGHUP: reload the policy) only when
 * the caller asks (the CLI does; tests and the demo do not).
 */
import type { DestinationStream } from "pino";
import { type ControllerOptions, loadControllerConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { createLogger } from "./logger.js";
import { createController } from "./runtime.js";
import { startControllerTelemetry } from "./telemetry/index.js";

export interface RunningController {
  /** The base URL the API listens on, e.g. `http://127.0.0.1:7400`. */
  readonly url: string;
  /** Each environment's signing key id and the JWKS file agents should pin (when it is on disk). */
  readonly keys: readonly { environment: string; kid: string; jwksPath: string | undefined }[];
  /**
   * Stops listening, waits for dispatches in flight (at most the shutdown grace period, then they
   * are failed with KH_DISPATCH_INTERRUPTED), closes the database.
   */
  close(): Promise<void>;
}

/** Default drain deadline on SIGTERM; below Kubernetes' 30 s terminationGracePeriodSeconds. */
export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 20;

/** `KEYHOLE_SHUTDOWN_GRACE_SECONDS`: whole seconds, 0 to 3600. */
function shutdownGraceMs(env: Readonly<Record<string, string | undefined>>): number {
  const text = env.KEYHOLE_SHUTDOWN_GRACE_SECONDS;
  if (text === undefined || text === "") return DEFAULT_SHUTDOWN_GRACE_SECONDS * 1000;
  if (!/^\d{1,4}$/.test(text) || Number(text) > 3600)
    throw new ConfigError("invalid controller configuration", [
      `KEYHOLE_SHUTDOWN_GRACE_SECONDS: must be whole seconds from 0 to 3600, got ${JSON.stringify(text)}`,
    ]);
  return Number(text) * 1000;
}

/** Starts the controller. Throws ConfigError (every problem listed) before listening on bad config. */
export async function runController(
  options: ControllerOptions,
  env: Readonly<Record<string, string | undefined>>,
  run: { handleSignals?: boolean; logDestination?: DestinationStream } = {},
): Promise<RunningController> {
  const config = loadControllerConfig(options, env);
  const graceMs = shutdownGraceMs(env);
  const logger = createLogger(config.logLevel, run.logDestination);
  // OpenTelemetry only when an OTEL_* variable is set; otherwise it is never even loaded.
  const telemetry = await startControllerTelemetry(env);
  let controller: Awaited<ReturnType<typeof createController>>;
  try {
    controller = await createController(config, {
      logger,
      telemetry,
      auditCheckpoints: {
        everyRecords: config.auditCheckpointRecords,
        everyMs: config.auditCheckpointSeconds * 1000,
      },
    });
  } catch (err) {
    await telemetry.shutdown().catch(() => {});
    throw err;
  }
  let url: string;
  try {
    url = await controller.app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    await controller.close();
    await telemetry.shutdown().catch(() => {});
    throw err;
  }
  logger.info(
    { url, controllerId: config.id, dataDir: config.dataDir, policy: controller.policy.source },
    "listening",
  );

  const close = async (): Promise<void> => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    process.off("SIGHUP", onHangup);
    try {
      await controller.close({ graceMs });
    } finally {
      // Last, so the final audit records, spans and metrics are flushed too.
      await telemetry.shutdown().catch((err: unknown) => logger.warn({ err }, "flushing telemetry failed"));
    }
  };
  // SIGHUP re-reads the policy file; an invalid one is logged and audited, and the old one stays.
  function onHangup(): void {
    controller.reloadPolicy("sighup").then(
      (outcome) => {
        if (!outcome) logger.warn("SIGHUP: no --policy file to reload (the embedded default is in force)");
      },
      (err: unknown) => logger.error({ err }, "policy reload failed"),
    );
  }
  function onSignal(signal: NodeJS.Signals): void {
    logger.info({ signal }, "shutting down");
    close()
      .then(
        () => logger.info("stopped"),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          process.exitCode = 1;
        },
      )
      // Exit now: a dispatch abandoned after the grace period (already failed in the store) may
      // still hold a socket to its agent, which would keep the process alive until it times out.
      .finally(() => setImmediate(() => process.exit()));
  }
  if (run.handleSignals) {
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    process.on("SIGHUP", onHangup);
  }
  return {
    url,
    keys: [...controller.keys.values()].map((k) => ({
      environment: k.environment,
      kid: k.kid,
      jwksPath: k.jwksPath,
    })),
    close,
  };
}
