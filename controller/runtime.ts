/**
 * Assembling a controller from its config: policy, inventory, keys, store, dispatcher, lifecycle and
 * the HTTP app, acquired in order and released in reverse. Tests use this with `inject()`; main.ts
 * adds the socket.
 */
import { createPublicKey } from "node:crypto";
import { mkdir } from "node:fs/promises";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { readTlsFiles, TlsFileWatcher, type TlsMaterial } from "../common/tls-files.js";
import { reloadServerTls } from "../common/tls-server.js";
import { ACTION_PARAMS } from "../protocol/actions.js";
import { buildApp } from "./app.js";
import { openArtifactStore, plainHttpWarning } from "./artifacts/open-artifact-store.js";
import { ArtifactService } from "./artifacts/service.js";
import type { ArtifactStore } from "./artifacts/types.js";
import { loadOrCreateAuditKey } from "./audit/audit-key.js";
import { AuditCheckpointer } from "./audit/checkpointer.js";
import type { ControllerConfig } from "./config.js";
import { createConsoleOidc } from "./console/oidc-login.js";
import { AgentTls } from "./dispatch/agent-tls.js";
import { AgentTransports } from "./dispatch/agent-transport.js";
import { clearTextDispatchWarning } from "./dispatch/clear-text.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { InlineBudget } from "./dispatch/inline-budget.js";
import { ConfigError } from "./errors.js";
import { AgentNetworks } from "./fleet/agent-networks.js";
import { CollectionService } from "./fleet/collections.js";
import { FleetRegistry } from "./fleet/registry.js";
import { loadTriggerRules } from "./fleet/trigger-rules.js";
import { TriggerService } from "./fleet/triggers.js";
import { chainAuthenticators, createOidcAuthenticator } from "./identity/oidc.js";
import { createTokenAuthenticator } from "./identity/token-authenticator.js";
import { type Inventory, loadInventory } from "./inventory/load-inventory.js";
import { loadEnvironmentKeys, type SigningKey } from "./keys.js";
import { LivePolicy, PolicyReloader, type ReloadOutcome, type ReloadTrigger } from "./policy/live-policy.js";
import { loadPolicy, type Policy } from "./policy/load-policy.js";
import type { ActionCatalogue } from "./requests/action-params.js";
import { ReviewService } from "./requests/reviews.js";
import { RequestService } from "./requests/service.js";
import { createWebhook } from "./requests/webhook.js";
import { openStore } from "./store/open-store.js";
import type { Store } from "./store/types.js";
import { AuditMetrics } from "./telemetry/audit-metrics.js";
import { type ControllerTelemetry, NO_TELEMETRY } from "./telemetry/index.js";

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
  /** Break-glass reviews. */
  readonly reviews: ReviewService;
  /** Enrolled agents, collections and alert triggers (docs/fleet.md). */
  readonly fleet: {
    readonly registry: FleetRegistry;
    readonly collections: CollectionService;
    readonly triggers: TriggerService;
  };
  /**
   * Re-reads the policy file (SIGHUP, or a file change when watched): swapped in when valid and usable,
   * else the old one stays; audited either way. Without a policy file there is nothing to reload.
   */
  reloadPolicy(trigger?: ReloadTrigger): Promise<ReloadOutcome | undefined>;
  /** Signs audit checkpoints while the controller runs (and once more at close). */
  readonly checkpointer: AuditCheckpointer;
  /**
   * Stops the app, the sweeper and in-flight dispatches (waited for at most `graceMs`, then failed
   * with KH_DISPATCH_INTERRUPTED), then the store.
   */
  close(options?: { graceMs?: number }): Promise<void>;
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
    /** OpenTelemetry (see controller/telemetry); default off. The caller shuts it down. */
    telemetry?: ControllerTelemetry;
    /** When audit checkpoints are signed (defaults: every 1000 records or 5 minutes, polled each second). */
    auditCheckpoints?: { everyRecords?: number; everyMs?: number; pollMs?: number };
    /** Reload the policy when its file changes (default true when there is a policy file). */
    watchPolicy?: boolean;
    /** OIDC key-set cache timing (tests shorten the refetch cooldown). */
    oidcTiming?: { cooldownMs?: number; cacheMaxAgeMs?: number };
    /**
     * The action catalogue filings are checked against (default: the wire contract's,
     * protocol/actions.ts); tests whose agent runs an extra action of theirs add it here.
     */
    actions?: ActionCatalogue;
  } = {},
): Promise<ControllerRuntime> {
  const now = options.now ?? Date.now;
  const log = options.logger ?? silentLogger();
  const telemetry = options.telemetry ?? NO_TELEMETRY;
  // Live: every part below holds this one object, so a reload reaches all of them at once.
  const policy = new LivePolicy(await loadPolicy(config.policyPath));
  const inventory = await loadInventory(config.inventoryPath, policy);
  const actions = options.actions ?? ACTION_PARAMS;
  const triggerRules = await loadTriggerRules(config.triggerRulesPath, policy, actions);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const keys = await loadEnvironmentKeys({
    dataDir: config.dataDir,
    environments: policy.environments.keys(),
    explicit: config.signingKeys,
  });
  // TLS files (docs/operations.md, "TLS"): unreadable or mismatched ones stop start-up.
  let serverTls: TlsMaterial | undefined;
  let agentTls: AgentTls | undefined;
  try {
    serverTls = config.tls.server ? readTlsFiles(config.tls.server) : undefined;
  } catch (err) {
    throw new ConfigError("invalid controller configuration", [
      `--tls-cert/--tls-key (KEYHOLE_TLS_CERT, KEYHOLE_TLS_KEY): ${(err as Error).message}`,
    ]);
  }
  try {
    agentTls = AgentTls.open(config.tls.agents, { reloadMs: config.tls.reloadSeconds * 1000, log });
  } catch (err) {
    throw new ConfigError("invalid controller configuration", [
      `--agent-ca/--client-cert/--client-key (KEYHOLE_AGENT_CA, KEYHOLE_CLIENT_CERT, KEYHOLE_CLIENT_KEY): ${(err as Error).message}`,
    ]);
  }
  let store: Store;
  try {
    store = await openStore(config.database);
  } catch (err) {
    agentTls?.close();
    throw err;
  }
  let serverTlsWatcher: TlsFileWatcher | undefined;
  let artifactStore: ArtifactStore | undefined;
  let startedCheckpointer: AuditCheckpointer | undefined;
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
    const auditMetrics = new AuditMetrics(telemetry, (id) => store.getRequest(id));
    const auditKey = await loadOrCreateAuditKey(config.dataDir, config.auditKeyPath);
    const checkpointer = new AuditCheckpointer({
      store,
      key: auditKey,
      ...options.auditCheckpoints,
      now,
      log,
      // With telemetry on, every new audit record becomes a log record and feeds the metrics.
      ...(telemetry.enabled
        ? {
            onRecords: async (records) => {
              telemetry.auditRecords(records);
              await auditMetrics.observe(records);
            },
          }
        : {}),
    });
    startedCheckpointer = checkpointer;
    telemetry.observePending(async () => (await store.listByStatus("pending", 10_000)).length);
    await checkpointer.start();
    // The inventory file and the enrolled agents: what the request path resolves targets in.
    const fleetRegistry = new FleetRegistry({
      store,
      policy,
      inventory,
      heartbeatSeconds: config.heartbeatSeconds,
      offlineAfterSeconds: config.offlineAfterSeconds,
      networks: new AgentNetworks(config.agentNetworks),
      requireTls: config.tls.agents.ca !== undefined,
      controllerId: config.id,
      log,
      now,
    });
    await fleetRegistry.start();
    // Agents on NATS are reached through one connection (docs/transport.md); loaded only when used.
    const nats = config.nats
      ? await (await import("./dispatch/nats-sender.js")).NatsSender.connect({
          url: config.nats.url,
          credsFile: config.nats.credsFile,
          controllerId: config.id,
          log,
        })
      : undefined;
    const transports = new AgentTransports(nats, agentTls);
    // One byte budget for every agent answer held in memory, single requests and collections alike.
    const inlineBudget = new InlineBudget(config.inlineResultsMaxBytes, config.maxResultBytes);
    const dispatcher = new Dispatcher({
      telemetry,
      transports,
      inlineBudget,
      store,
      policy,
      inventory: fleetRegistry.inventory,
      keys,
      controllerId: config.id,
      timeoutMs: config.dispatchTimeoutSeconds * 1000,
      maxResultBytes: config.maxResultBytes,
      artifacts: artifactStore,
      log,
      now,
      agentTls,
    });
    const artifacts = new ArtifactService({
      store,
      artifacts: artifactStore,
      policy,
      controllerId: config.id,
      log,
      now,
    });
    const webhook = config.approvalWebhook
      ? createWebhook(config.approvalWebhook, log, { consoleUrl: config.publicUrl })
      : undefined;
    const requests = new RequestService({
      telemetry,
      store,
      policy,
      inventory: fleetRegistry.inventory,
      dispatcher,
      directUploads: artifactStore.direct !== undefined,
      controllerId: config.id,
      log,
      now,
      actions,
      ...(webhook ? { announce: webhook.announce } : {}),
    });
    const reviews = new ReviewService({
      store,
      policy,
      controllerId: config.id,
      overdueSeconds: config.reviewOverdueSeconds,
      log,
      now,
      ...(webhook ? { announce: webhook.announce } : {}),
    });
    const collections = new CollectionService({
      store,
      policy,
      registry: fleetRegistry,
      dispatcher,
      keys,
      controllerId: config.id,
      timeoutMs: config.dispatchTimeoutSeconds * 1000,
      maxResultBytes: config.maxResultBytes,
      log,
      now,
      actions,
      ...(webhook ? { announce: webhook.announce } : {}),
    });
    const triggers = new TriggerService({ rules: triggerRules, collections, store, log, now });
    const tokenAuthenticator = createTokenAuthenticator(store, now);
    const oidc = config.oidc
      ? createOidcAuthenticator({ ...config.oidc, log, ...options.oidcTiming })
      : undefined;
    const authenticator = oidc ? chainAuthenticators(tokenAuthenticator, oidc) : tokenAuthenticator;
    // Discover now, so a misconfigured issuer shows in the log at start, not at the first login.
    oidc?.ready().catch(() => {});
    // The console's OIDC login needs the redirect URI registered at the provider: --public-url.
    if (oidc && !config.publicUrl)
      log.warn("the console offers token login only: OIDC login needs --public-url (KEYHOLE_PUBLIC_URL)");
    const consoleOidc =
      oidc && config.oidc && config.publicUrl
        ? createConsoleOidc({
            issuer: config.oidc.issuer,
            clientId: config.oidc.audience,
            publicUrl: config.publicUrl,
            idTokens: oidc,
            log,
            now,
          })
        : undefined;
    const app = buildApp({
      authenticator,
      requests,
      artifacts,
      governance: { reviews, policy, inventory: fleetRegistry.inventory },
      fleet: {
        policy,
        registry: fleetRegistry,
        collections,
        triggers,
        rateLimitPerMinute: config.rateLimitPerMinute,
        rateCounter: store.sharedRateCounter,
      },
      rateLimitPerMinute: config.rateLimitPerMinute,
      rateCounter: store.sharedRateCounter,
      ...(options.logger ? { logger: options.logger } : {}),
      bodyLimitBytes: config.bodyLimitBytes,
      console: {
        store,
        policy,
        collections,
        reviews,
        registry: fleetRegistry,
        auditKeys: new Map([[auditKey.kid, createPublicKey(auditKey.privateKey)]]),
        auditKey,
        oidc: consoleOidc,
        publicUrl: config.publicUrl,
        now,
      },
      tls: serverTls,
    });
    // A rotated certificate or key serves new connections without a restart.
    if (config.tls.server)
      serverTlsWatcher = new TlsFileWatcher(config.tls.server, {
        intervalMs: config.tls.reloadSeconds * 1000,
        what: "the controller's TLS certificate",
        log,
        apply: (material) => reloadServerTls(app.server, material),
      });
    await requests.start({
      sweepIntervalMs: config.sweepIntervalSeconds * 1000,
      sweepArtifacts: async () => {
        // Overdue break-glass reviews ride on the same timer; a failure there must not stop retention.
        await reviews
          .reportOverdue()
          .catch((err: unknown) => log.error({ err }, "reporting overdue reviews failed"));
        return artifacts.sweepExpired();
      },
      // SQLite is this controller's alone: whatever is dispatched at start was interrupted. A shared
      // database may hold other replicas' dispatches: only ones far past any dispatch's length.
      interruptedAfterMs:
        config.database.kind === "sqlite" ? 0 : Math.max(config.dispatchTimeoutSeconds * 2, 15 * 60) * 1000,
    });
    await collections.start({ sweepIntervalMs: config.sweepIntervalSeconds * 1000 });
    const openedArtifacts = artifactStore;
    const reloader =
      config.policyPath === undefined
        ? undefined
        : new PolicyReloader({
            live: policy,
            path: config.policyPath,
            // A valid file this process cannot use: agents it knows would lose their environment, or a
            // new environment would have no signing key (keys are loaded at start).
            check: (next) => [
              ...[...inventory.agents.values()]
                .filter((a) => !next.environments.has(a.environment))
                .map(
                  (a) =>
                    `environment "${a.environment}" is removed, but agent ${a.id} in the inventory is in it`,
                ),
              ...[...next.environments.keys()]
                .filter((e) => !keys.has(e))
                .map(
                  (e) => `environment "${e}" is new and has no signing key: restart the controller to add it`,
                ),
            ],
            store,
            controllerId: config.id,
            log,
            now,
            // What is in flight is re-checked against the new policy at once (issue 23, finding 3).
            afterLoad: async (_next, digest) => {
              await requests.recheckInFlight(digest);
              await collections.recheckInFlight(digest);
            },
          });
    if (reloader && options.watchPolicy !== false) reloader.watch();
    const overdueAtStart = await reviews.reportOverdue();
    if (overdueAtStart > 0) log.warn({ overdueReviews: overdueAtStart }, "break-glass reviews are overdue");
    const transport = plainHttpWarning(config.artifacts);
    if (transport) log.warn(transport);
    // Their answers are checked against the key they name themselves: whole, but not whose (issue 21).
    const unpinned = [...inventory.agents.values()].filter((a) => !a.publicKey).map((a) => a.id);
    if (unpinned.length > 0)
      log.warn(
        { agents: unpinned.slice(0, 20), count: unpinned.length },
        "inventory agents without publicKey: their answers cannot be tied to a pinned key; pin each agent's key (docs/fleet.md#agent-keys)",
      );
    const clearText = clearTextDispatchWarning(
      inventory.agents.values(),
      config.agentNetworks,
      config.tls.agents.ca !== undefined,
    );
    if (clearText)
      log.warn(
        {
          inventoryAgents: clearText.inventoryAgents,
          enrollmentEnvironments: clearText.enrollmentEnvironments,
        },
        clearText.message,
      );
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
      reviews,
      fleet: { registry: fleetRegistry, collections, triggers },
      reloadPolicy: async (trigger: ReloadTrigger = "manual") => reloader?.reload(trigger),
      keys,
      checkpointer,
      close: (closeOptions: { graceMs?: number } = {}) => {
        closing ??= (async () => {
          await reloader?.close();
          try {
            const { graceMs } = closeOptions;
            const deadline = performance.now() + (graceMs ?? 0);
            // Past the grace period, HTTP requests still open (a slow download) are cut.
            const cut =
              graceMs === undefined ? undefined : setTimeout(() => app.server.closeAllConnections(), graceMs);
            try {
              await app.close();
            } finally {
              clearTimeout(cut);
            }
            // Collections stop starting targets and wait for the ones in flight.
            await collections.close();
            await fleetRegistry.close();
            await requests.close(
              graceMs === undefined ? undefined : Math.max(0, deadline - performance.now()),
            );
          } finally {
            serverTlsWatcher?.close();
            agentTls?.close();
            // After the last dispatch wrote its records: a clean stop leaves no unsigned tail.
            await transports.close();
            await webhook?.close();
            await checkpointer.close();
            await openedArtifacts.close();
            await store.close();
          }
        })();
        return closing;
      },
    };
  } catch (err) {
    serverTlsWatcher?.close();
    agentTls?.close();
    await startedCheckpointer?.close();
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
