import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CONTROLLER_ENV_VARS, loadControllerConfig } from "../../../controller/config.js";
import { ConfigError } from "../../../controller/errors.js";

describe("loadControllerConfig", () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), "keyhole-cfg-"));
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  function problemsOf(
    options: Parameters<typeof loadControllerConfig>[0],
    env: Record<string, string> = {},
  ): readonly string[] {
    try {
      loadControllerConfig(options, env, cwd);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error("expected the config to be refused");
  }

  it("has embedded defaults with absolute paths, and is frozen", () => {
    const config = loadControllerConfig({}, {}, cwd);
    expect(config).toEqual({
      dataDir: join(cwd, "keyhole-data"),
      policyPath: undefined,
      inventoryPath: undefined,
      signingKeys: [],
      listen: { host: "127.0.0.1", port: 7400 },
      database: { kind: "sqlite", path: join(cwd, "keyhole-data", "keyhole.db") },
      id: "keyhole-controller",
      sweepIntervalSeconds: 30,
      dispatchTimeoutSeconds: 90,
      auditCheckpointRecords: 1000,
      auditCheckpointSeconds: 300,
      logLevel: "info",
      bodyLimitBytes: 65_536,
      maxResultBytes: 16 * 1024 * 1024,
      inlineResultsMaxBytes: 64 * 1024 * 1024,
      artifacts: { kind: "local", dir: join(cwd, "keyhole-data", "artifacts"), maxBytes: 4096 * 1024 * 1024 },
      oidc: undefined,
      approvalWebhook: undefined,
      rateLimitPerMinute: 30,
      reviewOverdueSeconds: 86_400,
      triggerRulesPath: undefined,
      heartbeatSeconds: 15,
      offlineAfterSeconds: 45,
      agentNetworks: [],
      tls: {
        server: undefined,
        agents: { ca: undefined, cert: undefined, key: undefined },
        reloadSeconds: 10,
      },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });

  it("reads KEYHOLE_* variables, and options win over them", () => {
    const env = {
      KEYHOLE_DATA_DIR: "/var/lib/keyhole",
      KEYHOLE_POLICY: "/etc/keyhole/policy.yaml",
      KEYHOLE_LISTEN: "0.0.0.0:8080",
      KEYHOLE_SIGNING_KEY: "production=/k/prod.pem, staging=/k/stg.pem",
      KEYHOLE_DATABASE: "sqlite:/var/lib/keyhole/other.db",
      KEYHOLE_CONTROLLER_ID: "ctl-eu-1",
      KEYHOLE_DISPATCH_TIMEOUT_SECONDS: "120",
      KEYHOLE_SWEEP_INTERVAL_SECONDS: "",
    };
    const fromEnv = loadControllerConfig({}, env, cwd);
    expect(fromEnv).toMatchObject({
      dataDir: "/var/lib/keyhole",
      policyPath: "/etc/keyhole/policy.yaml",
      listen: { host: "0.0.0.0", port: 8080 },
      signingKeys: [
        { environment: "production", file: "/k/prod.pem" },
        { environment: "staging", file: "/k/stg.pem" },
      ],
      database: { kind: "sqlite", path: "/var/lib/keyhole/other.db" },
      id: "ctl-eu-1",
      dispatchTimeoutSeconds: 120,
      sweepIntervalSeconds: 30,
    });
    const overridden = loadControllerConfig(
      { dataDir: "d", listen: "[::1]:0", signingKey: ["production=p.pem"], id: "x", database: "db.sqlite" },
      env,
      cwd,
    );
    expect(overridden).toMatchObject({
      dataDir: join(cwd, "d"),
      listen: { host: "::1", port: 0 },
      signingKeys: [{ environment: "production", file: join(cwd, "p.pem") }],
      id: "x",
      database: { path: join(cwd, "db.sqlite") },
    });
  });

  it("uses <dataDir>/inventory.yaml when it exists", async () => {
    expect(loadControllerConfig({ dataDir: "." }, {}, cwd).inventoryPath).toBeUndefined();
    await writeFile(join(cwd, "inventory.yaml"), "[]\n");
    expect(loadControllerConfig({ dataDir: "." }, {}, cwd).inventoryPath).toBe(join(cwd, "inventory.yaml"));
    expect(loadControllerConfig({ dataDir: ".", inventory: "x.yaml" }, {}, cwd).inventoryPath).toBe(
      join(cwd, "x.yaml"),
    );
  });

  it("takes a PostgreSQL URL as it is, and refuses one without a host or another database URL", () => {
    const url = "postgres://keyhole:pw@db:5432/keyhole?sslmode=require&options=-c%20search_path%3Dkeyhole";
    expect(loadControllerConfig({ database: url }, {}, cwd).database).toEqual({ kind: "postgres", url });
    expect(loadControllerConfig({}, { KEYHOLE_DATABASE: "postgresql://db/k" }, cwd).database).toEqual({
      kind: "postgres",
      url: "postgresql://db/k",
    });
    expect(problemsOf({ database: "postgres:///keyhole" })).toEqual([
      expect.stringMatching(/^--database \(KEYHOLE_DATABASE\): must be postgres:\/\/USER.*a URL with a host/),
    ]);
    expect(problemsOf({ database: "mysql://db/k" })[0]).toMatch(/unsupported database/);
    expect(problemsOf({ database: "sqlite:" })[0]).toMatch(/unsupported database/);
  });

  it("reads secret-bearing settings from files, so they are in neither argv nor the environment", async () => {
    const url = "postgres://keyhole:s3cr3t-pw@db:5432/keyhole";
    const hook = "https://hooks.slack.com/services/T000/B000/s3cr3t-token";
    await writeFile(join(cwd, "db-url"), `${url}\n`, { mode: 0o600 });
    await writeFile(join(cwd, "hook-url"), `${hook}\n`, { mode: 0o600 });
    const fromFlags = loadControllerConfig(
      { databaseFile: "db-url", approvalWebhookFile: "hook-url" },
      {},
      cwd,
    );
    expect(fromFlags.database).toEqual({ kind: "postgres", url });
    expect(fromFlags.approvalWebhook).toBe(hook);
    const fromEnv = loadControllerConfig(
      {},
      { KEYHOLE_DATABASE_FILE: join(cwd, "db-url"), KEYHOLE_APPROVAL_WEBHOOK_FILE: join(cwd, "hook-url") },
      cwd,
    );
    expect([fromEnv.database, fromEnv.approvalWebhook]).toEqual([{ kind: "postgres", url }, hook]);
    // A flag beats a variable across the two forms; both forms at one level is a mistake.
    expect(
      loadControllerConfig({ database: "sqlite:x.db" }, { KEYHOLE_DATABASE_FILE: "db-url" }, cwd).database,
    ).toEqual({
      kind: "sqlite",
      path: join(cwd, "x.db"),
    });
    expect(problemsOf({ database: "sqlite:x.db", databaseFile: "db-url" })).toEqual([
      "--database-file (KEYHOLE_DATABASE_FILE): give --database or --database-file, not both",
    ]);
    await writeFile(join(cwd, "empty"), "\n");
    expect(problemsOf({ databaseFile: "missing", approvalWebhookFile: "empty" })).toEqual([
      "--database-file (KEYHOLE_DATABASE_FILE): cannot read missing: ENOENT",
      "--approval-webhook-file (KEYHOLE_APPROVAL_WEBHOOK_FILE): empty is empty",
    ]);
  });

  it("lists every problem at once, naming flag and variable", () => {
    expect(
      problemsOf(
        { listen: "localhost", signingKey: ["production", "Prod=x.pem", "staging=a.pem", "staging=b.pem"] },
        {
          KEYHOLE_DISPATCH_TIMEOUT_SECONDS: "soon",
          KEYHOLE_LOG_LEVEL: "loud",
          KEYHOLE_CONTROLLER_ID: "has space",
        },
      ),
    ).toEqual([
      '--signing-key (KEYHOLE_SIGNING_KEY): must be ENV=FILE with ENV an environment name, got "production"',
      '--signing-key (KEYHOLE_SIGNING_KEY): must be ENV=FILE with ENV an environment name, got "Prod=x.pem"',
      '--listen (KEYHOLE_LISTEN): must be HOST:PORT (e.g. 127.0.0.1:7400), got "localhost"',
      "--id (KEYHOLE_CONTROLLER_ID): must be an id (A-Z, a-z, 0-9, ._:/-)",
      "--dispatch-timeout-seconds (KEYHOLE_DISPATCH_TIMEOUT_SECONDS): Invalid input: expected number, received NaN",
      expect.stringMatching(/^--log-level \(KEYHOLE_LOG_LEVEL\): Invalid option/),
    ]);
    expect(problemsOf({ listen: "127.0.0.1:70000" })).toHaveLength(1);
    expect(problemsOf({ signingKey: ["staging=a.pem", "staging=b.pem"] })).toEqual([
      '--signing-key (KEYHOLE_SIGNING_KEY): two keys for "staging"',
    ]);
    expect(problemsOf({ bogus: 1 } as never)).toEqual(['unknown option "bogus"']);
  });

  it("documents one variable per option, none shared with the agent's --id", () => {
    expect(new Set(Object.values(CONTROLLER_ENV_VARS)).size).toBe(Object.keys(CONTROLLER_ENV_VARS).length);
    expect(Object.values(CONTROLLER_ENV_VARS)).not.toContain("KEYHOLE_ID");
  });
});

describe("artifact store configuration", () => {
  const cwd = "/srv/keyhole";
  it("uses S3 when a bucket is set, with SSE passed through", () => {
    const config = loadControllerConfig(
      {
        s3Bucket: "diag-artifacts",
        s3Prefix: "keyhole/",
        s3Endpoint: "http://127.0.0.1:9000",
        s3ForcePathStyle: "true",
        s3Sse: "aws:kms",
        s3SseKmsKeyId: "arn:aws:kms:eu-west-1:111122223333:key/abc",
      },
      {},
      cwd,
    );
    expect(config.artifacts).toEqual({
      kind: "s3",
      bucket: "diag-artifacts",
      prefix: "keyhole/",
      endpoint: "http://127.0.0.1:9000",
      forcePathStyle: true,
      region: undefined,
      sse: { mode: "aws:kms", kmsKeyId: "arn:aws:kms:eu-west-1:111122223333:key/abc" },
      partSizeBytes: 8 * 1024 * 1024,
      maxBytes: 4096 * 1024 * 1024,
    });
  });

  it("reads the S3 settings from KEYHOLE_S3_* variables", () => {
    const config = loadControllerConfig({}, { KEYHOLE_S3_BUCKET: "b-1", KEYHOLE_S3_SSE: "AES256" }, cwd);
    expect(config.artifacts).toMatchObject({ kind: "s3", bucket: "b-1", sse: { mode: "AES256" } });
  });

  it("refuses S3 settings without a bucket, a KMS key without aws:kms, and a bad bucket name", () => {
    const problems = (() => {
      try {
        loadControllerConfig({ s3Prefix: "x/", s3Sse: "AES256", s3SseKmsKeyId: "k" }, {}, cwd);
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    })();
    expect(problems.join("\n")).toMatch(/--s3-prefix .*needs --s3-bucket/);
    expect(problems.join("\n")).toMatch(/--s3-sse-kms-key-id .*needs --s3-sse aws:kms/);
    expect(() => loadControllerConfig({ s3Bucket: "Bad_Bucket" }, {}, cwd)).toThrow(/--s3-bucket/);
  });
});

describe("fleet settings", () => {
  it("defaults offline-after to three heartbeats and refuses one that does not exceed them", () => {
    expect(loadControllerConfig({ heartbeatSeconds: "5" }, {})).toMatchObject({
      heartbeatSeconds: 5,
      offlineAfterSeconds: 15,
    });
    expect(() => loadControllerConfig({ heartbeatSeconds: "5", offlineAfterSeconds: "5" }, {})).toThrow(
      /--offline-after-seconds \(KEYHOLE_OFFLINE_AFTER_SECONDS\): must exceed --heartbeat-seconds/,
    );
    expect(loadControllerConfig({}, { KEYHOLE_TRIGGER_RULES: "rules.yaml" }, "/srv").triggerRulesPath).toBe(
      "/srv/rules.yaml",
    );
  });
});
