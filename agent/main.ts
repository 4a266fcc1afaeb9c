/**
 * `keyhole agent`: reads the config, loads the pinned keys, listens, and shuts down cleanly on
 * SIGTERM/SIGINT. All wiring; the behaviour lives in app.ts and below.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { readTlsFiles, type TlsFilePaths, TlsFileWatcher, type TlsMaterial } from "../common/tls-files.js";
import { reloadServerTls } from "../common/tls-server.js";
import { ACTIONS } from "./actions/index.js";
import { AnswerSigner } from "./answer-signer.js";
import { buildApp } from "./app.js";
import { type AgentCliOptions, type AgentConfig, loadAgentConfig } from "./config.js";
import { type Enrollment, EnrollmentRefused, startEnrollment } from "./enroll.js";
import { startIdentity } from "./identity.js";
import { createRedactor } from "./redact/index.js";
import { ReplayCache } from "./replay-cache.js";
import { PersistentReplayCache } from "./replay-log.js";
import { sweepAtStart } from "./runtimes/jvm/target-files.js";
import { closeLeftoverInspectors, inspectorMarkers } from "./runtimes/node/open-markers.js";
import { startAgentTelemetry } from "./telemetry/index.js";
import type { AgentTransport } from "./transport/types.js";
import { loadTrustedKeys } from "./trusted-keys.js";

export interface RunningAgent {
  readonly url: string;
  readonly config: AgentConfig;
  /** Settles once inspectors a previous (killed) run left open are closed. */
  readonly recovered: Promise<unknown>;
  /** Drains: requests in flight get `shutdownGraceSeconds`, then their connections are cut. */
  close(): Promise<void>;
}

/** After the grace period, how long released inspector sessions may take to close. */
const INSPECTOR_CLOSE_AFTER_GRACE_MS = 10_000;

/**
 * Stops listening and lets requests in flight finish; after `graceMs` cuts the connections still
 * open (which aborts their actions), then waits a bounded time for inspector sessions to close.
 */
async function drain(app: FastifyInstance, graceMs: number, log: pino.Logger): Promise<void> {
  const started = performance.now();
  const closed = app.close();
  let cut = false;
  const timer = setTimeout(() => {
    cut = true;
    log.warn({ graceMs }, "shutdown grace period over; cutting the connections still open");
    app.server.closeAllConnections();
  }, graceMs);
  timer.unref();
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
  const inspectorsClosed = await inspectorMarkers.whenNoneOpen(INSPECTOR_CLOSE_AFTER_GRACE_MS);
  log.info({ drainedMs: Math.round(performance.now() - started), cut, inspectorsClosed }, "drained");
}

/** drain() for the NATS transport: no connections to cut, the subscription stops instead. */
async function drainNats(
  app: FastifyInstance,
  nats: AgentTransport,
  graceMs: number,
  log: pino.Logger,
): Promise<void> {
  const started = performance.now();
  await nats.close(graceMs);
  await app.close();
  const inspectorsClosed = await inspectorMarkers.whenNoneOpen(INSPECTOR_CLOSE_AFTER_GRACE_MS);
  log.info({ drainedMs: Math.round(performance.now() - started), inspectorsClosed }, "drained");
}

const MIN_FINGERPRINT_KEY_BYTES = 16;

function loadFingerprintKey(file: string | undefined, log: pino.Logger): Uint8Array {
  if (!file) {
    // Without a per-deployment key, fingerprints still hide values but are only comparable
    // within this process's lifetime.
    log.warn("no --fingerprint-key-file: masked-value fingerprints use a random key and change on restart");
    return randomBytes(32);
  }
  const key = readFileSync(file);
  if (key.length < MIN_FINGERPRINT_KEY_BYTES) {
    throw new Error(`${file}: a fingerprint key needs at least ${MIN_FINGERPRINT_KEY_BYTES} bytes`);
  }
  return key;
}

/** Starts the agent; resolves once it listens. */
export async function runAgent(
  options: AgentCliOptions,
  env: NodeJS.ProcessEnv,
  { handleSignals = false }: { handleSignals?: boolean } = {},
): Promise<RunningAgent> {
  const config = loadAgentConfig(options, env);
  const logger = pino({
    name: "keyhole-agent",
    base: { agent: config.id },
    redact: ["req.headers.authorization"],
  });
  try {
    inspectorMarkers.configure(config.stateDir);
  } catch (err) {
    logger.warn(
      { err, stateDir: config.stateDir },
      "cannot use the state dir: a killed agent could not close an inspector it opened",
    );
  }
  // Heap dumps and recordings a killed agent left in a JVM's /tmp (runtimes/jvm/target-files.ts).
  void sweepAtStart("/proc", process.pid, logger);
  if (config.memoryGuardUnseen === "allow") {
    logger.warn(
      "--memory-guard-unseen allow: a heap snapshot goes ahead unguarded whenever the agent cannot see the target's memory cgroup, and may get the workload OOM-killed (docs/inspector.md)",
    );
  }
  // The agent's own key: signs every answer and is pinned by the controller (issue 21).
  const identity = startIdentity(config.identityKeyFile, config.stateDir, (err, message) =>
    logger.warn({ err, stateDir: config.stateDir }, message),
  );
  logger.info({ publicKey: identity.jwk.x, source: identity.source }, "identity key loaded");
  // HTTPS (docs/agent.md, "TLS"): files that cannot be read or do not fit stop start-up.
  const tlsPaths: TlsFilePaths | undefined = config.tlsCert
    ? { cert: config.tlsCert, key: config.tlsKey, ca: config.clientCa }
    : undefined;
  let tls: TlsMaterial | undefined;
  try {
    tls = tlsPaths ? readTlsFiles(tlsPaths) : undefined;
    if (config.controllerCa) readTlsFiles({ ca: config.controllerCa });
  } catch (err) {
    throw new Error(
      `invalid agent configuration:\n  --tls-cert/--tls-key/--client-ca/--controller-ca: ${(err as Error).message}`,
    );
  }
  // OpenTelemetry only when an OTEL_* variable is set; otherwise it is never even loaded.
  const telemetry = await startAgentTelemetry(env);
  // One signer for every answer, whichever face (HTTP, NATS) carries it.
  const answerSigner = new AnswerSigner(identity);
  const app: FastifyInstance = buildApp(config, {
    trustedKeys: loadTrustedKeys(config.trustedKeys),
    registry: ACTIONS,
    identity,
    answerSigner,
    redactor: createRedactor({ fingerprintKey: loadFingerprintKey(config.fingerprintKeyFile, logger) }),
    logger,
    telemetry,
    // Replays refused across restarts too (issue 16, finding 3).
    replayGuard: PersistentReplayCache.open({
      cache: new ReplayCache(config.replayCacheSize),
      stateDir: config.stateDir,
      agentId: config.id,
      log: logger,
    }),
    ...(tls ? { tls } : {}),
  });
  let nats: AgentTransport | undefined;
  let url: string;
  let port: number | undefined;
  let tlsWatcher: TlsFileWatcher | undefined;
  if (config.connect) {
    // Outbound only (docs/transport.md): the NATS client is loaded only by an agent that uses it.
    const { serveOverNats } = await import("./transport/nats.js");
    nats = await serveOverNats(app, {
      url: config.connect,
      credsFile: config.natsCreds,
      agentId: config.id,
      log: logger,
      signer: answerSigner,
    });
    url = nats.address;
    logger.info(
      {
        url,
        transport: "nats",
        environment: config.environment,
        actions: [...(config.actions ?? ACTIONS.keys())],
      },
      "connected",
    );
  } else {
    await app.listen({ host: config.listen.host, port: config.listen.port });
    // A rotated certificate, key or client CA serves new connections without a restart.
    tlsWatcher =
      tlsPaths &&
      new TlsFileWatcher(tlsPaths, {
        intervalMs: config.tlsReloadSeconds * 1000,
        what: "the agent's TLS certificate",
        log: logger,
        apply: (material) => reloadServerTls(app.server, material),
      });
    const address = app.server.address();
    port = typeof address === "object" && address ? address.port : config.listen.port;
    const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
    url = `${tls ? "https" : "http"}://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
    logger.info(
      { url, environment: config.environment, actions: [...(config.actions ?? ACTIONS.keys())] },
      "listening",
    );
  }

  // Enrollment with a controller (docs/fleet.md): a refused first attempt is a configuration error.
  let enrollment: Enrollment | undefined;
  if (config.enrollTokenFrom && config.enrollTokenFrom !== "file") {
    logger.warn(
      { from: config.enrollTokenFrom },
      `the enrollment token was given as ${config.enrollTokenFrom === "flag" ? "--enroll-token: every process in the pod can read it in /proc/<pid>/cmdline" : "KEYHOLE_ENROLL_TOKEN: a workload running as the agent's uid can read it in /proc/<pid>/environ"}; use --enroll-token-file (docs/threat-model.md)`,
    );
  }
  if (config.controller && config.enrollToken) {
    try {
      enrollment = await startEnrollment({
        controller: config.controller,
        token: config.enrollToken,
        ...(config.controllerCa ? { controllerCa: config.controllerCa } : {}),
        request: {
          id: config.id,
          environment: config.environment,
          ...(config.advertiseUrl ? { url: config.advertiseUrl } : {}),
          ...(nats ? { transport: "nats" as const } : { port: port!, ...(tls ? { tls: true } : {}) }),
          labels: config.labels,
          actions: [...(config.actions ?? ACTIONS.keys())],
        },
        identity,
        log: logger,
      });
    } catch (err) {
      tlsWatcher?.close();
      await nats?.close(0);
      await app.close();
      if (err instanceof EnrollmentRefused)
        throw new Error(`invalid agent enrollment: the controller refused it (${err.code}: ${err.message})`);
      throw err;
    }
  }

  // In the background: the agent serves (inspector actions on that target get KH_BUSY meanwhile).
  const recovered = closeLeftoverInspectors({ log: logger }).then(
    (outcomes) => {
      if (outcomes.length > 0) logger.info({ outcomes }, "checked inspectors left by a previous run");
      return outcomes;
    },
    (err: unknown) => logger.error({ err }, "closing inspectors left by a previous run failed"),
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    // Telemetry last: the drained requests' spans and metrics are flushed too.
    tlsWatcher?.close();
    closing ??= (enrollment?.stop() ?? Promise.resolve()).then(() =>
      (nats
        ? drainNats(app, nats, config.shutdownGraceSeconds * 1000, logger)
        : drain(app, config.shutdownGraceSeconds * 1000, logger)
      ).finally(() =>
        telemetry.shutdown().catch((err: unknown) => logger.warn({ err }, "flushing telemetry failed")),
      ),
    );
    return closing;
  };
  if (handleSignals) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => {
        logger.info({ signal }, "shutting down");
        close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      });
    }
  }
  return { url, config, recovered, close };
}
