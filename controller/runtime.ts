/**
 * Assembling a controller from its config: policy, inventory, keys, store, dispatcher, lifecycle and
 * the HTTP app, acquired in order and released in reverse. Tests use this with `inject()`; main.ts
 * adds the socket.
 */
import { mkdir } from "node:fs/promises";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { openArtifactStore } from "./artifacts/open-artifact-store.js";
import { ArtifactService } from "./artifacts/service.js";
import type { ArtifactStore } from "./artifacts/types.js";
import type { ControllerConfig } from "./config.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { createTokenAuthenticator } from "./identity/token-authenticator.js";
import { type Inventory, loadInventory } from "./inventory/load-inventory.js";
import { loadEnvironmentKeys, type SigningKey } from "./keys.js";
import { loadPolicy, type Policy } from "./policy/load-policy.js";
import { RequestService } from "./requests/service.js";
import { openStore } from "./store/open-store.js";
import type { Store } from "./store/types.js";

export interface ControllerRuntime {
  readonly config: ControllerConfig;
  readonly app: FastifyInstance;
  readonly requests: RequestService;
  readonly dispatcher: Dispatcher;
  readonly store: Store;
  readonly artifactStore: ArtifactStore;
  readonly artifacts: ArtifactService;
  readonly policy: Policy;
  readonly inventory: Inventory;
  readonly keys: ReadonlyMap<string, SigningKey>;
  /** Stops the app, the sweeper and in-flight dispatches (waited for), then the store. */
  close(): Promise<void>;
}

/**
 * Loads everything the config names and wires the controller. Throws ConfigError for a bad policy,
 * inventory or key, listing every problem. Records `controller.started` with the policy digest.
 */
export async function createController(
  config: ControllerConfig,
  options: {
    logger?: FastifyBaseLogger;
    now?: () => number;
    /** A ready artifact store (tests: S3 with s3rver's credentials); else the config's. */
    artifactStore?: ArtifactStore;
    /** Direct uploads up to this size are read back and hashed (default 64 MiB). */
    readBackMaxBytes?: number;
  } = {},
): Promise<ControllerRuntime> {
  const now = options.now ?? Date.now;
  const log = options.logger ?? silentLogger();
  const policy = await loadPolicy(config.policyPath);
  const inventory = await loadInventory(config.inventoryPath, policy);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadEnvironmentKeys({
    dataDir: config.dataDir,
    environments: policy.environments.keys(),
    explicit: config.signingKeys,
  });
  const store = await openStore(config.database);
  let artifactStore: ArtifactStore | undefined;
  try {
    artifactStore = options.artifactStore ?? (await openArtifactStore(config.artifacts));
    await store.appendAudit(
      [
        {
          actor: `controller:${config.id}`,
          event: "controller.started",
          details: {
            controllerId: config.id,
            policySource: policy.source,
            policyDigest: policy.digest,
            inventorySource: inventory.source,
            agents: inventory.agents.size,
            keys: [...keys.values()].map((k) => ({ environment: k.environment, kid: k.kid })),
            database: config.database.kind,
          },
        },
      ],
      now(),
    );
    const dispatcher = new Dispatcher({
      store,
      policy,
      inventory,
      keys,
      controllerId: config.id,
      timeoutMs: config.dispatchTimeoutSeconds * 1000,
      maxResultBytes: config.maxResultBytes,
      artifacts: artifactStore,
      ...(options.readBackMaxBytes === undefined ? {} : { readBackMaxBytes: options.readBackMaxBytes }),
      log,
      now,
    });
    const artifacts = new ArtifactService({
      store,
      artifacts: artifactStore,
      policy,
      controllerId: config.id,
      log,
      now,
    });
    const requests = new RequestService({
      store,
      policy,
      inventory,
      dispatcher,
      directUploads: artifactStore.direct !== undefined,
      controllerId: config.id,
      log,
      now,
    });
    const app = buildApp({
      authenticator: createTokenAuthenticator(store, now),
      requests,
      artifacts,
      ...(options.logger ? { logger: options.logger } : {}),
      bodyLimitBytes: config.bodyLimitBytes,
    });
    await requests.start({
      sweepIntervalMs: config.sweepIntervalSeconds * 1000,
      sweepArtifacts: () => artifacts.sweepExpired(),
    });
    const openedArtifacts = artifactStore;
    let closing: Promise<void> | undefined;
    return {
      config,
      app,
      requests,
      dispatcher,
      store,
      artifactStore: openedArtifacts,
      artifacts,
      policy,
      inventory,
      keys,
      close: () => {
        closing ??= (async () => {
          try {
            await app.close();
            await requests.close();
          } finally {
            await openedArtifacts.close();
            await store.close();
          }
        })();
        return closing;
      },
    };
  } catch (err) {
    await artifactStore?.close();
    await store.close();
    throw err;
  }
}

function silentLogger(): FastifyBaseLogger {
  const noop = () => {};
  const logger: FastifyBaseLogger = {
    level: "silent",
    fatal: noop,
    error: noop,
    warn: noop,
    info: noop,
    debug: noop,
    trace: noop,
    silent: noop,
    child: () => logger,
  };
  return logger;
}
