/** `keyhole agent` and `keyhole controller`: the two long-running services. */
import type { Command } from "commander";
import { startupError } from "../errors.js";
import { collect } from "../params.js";
import { registerAgentCommand } from "./agent.js";

export function registerServiceCommands(program: Command, env: NodeJS.ProcessEnv): void {
  registerAgentCommand(program, env);

  program
    .command("controller")
    .description("run the controller on embedded defaults (SQLite and keys under --data-dir)")
    .option("--data-dir <dir>", "where the database and keys live (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--policy <file>", "policy YAML (KEYHOLE_POLICY; default: the embedded policy)")
    .option("--inventory <file>", "inventory YAML of reachable agents (KEYHOLE_INVENTORY)")
    .option("--signing-key <env=file>", "use this PKCS#8 Ed25519 key for ENV (repeatable)", collect, [])
    .option("--listen <host:port>", "address to listen on (KEYHOLE_LISTEN; default 127.0.0.1:7400)")
    .option(
      "--database <url>",
      "sqlite:PATH, or postgres://USER[:PW]@HOST[:PORT]/DB to share one database between replicas (KEYHOLE_DATABASE; default SQLite in the data dir)",
    )
    .option(
      "--database-file <file>",
      "read the --database URL from FILE, so its password is in neither argv nor the environment (KEYHOLE_DATABASE_FILE)",
    )
    .option("--id <id>", "the controller's id, the `iss` of every request it signs (KEYHOLE_CONTROLLER_ID)")
    // Governance (docs/governance.md).
    .option(
      "--public-url <url>",
      "where people reach the console, e.g. https://keyhole.example.com: links, OIDC login redirect, Secure cookies (KEYHOLE_PUBLIC_URL)",
    )
    .option("--oidc-issuer <url>", "accept ID tokens of this OIDC issuer (KEYHOLE_OIDC_ISSUER)")
    .option("--oidc-audience <aud>", "the client id those ID tokens must name (KEYHOLE_OIDC_AUDIENCE)")
    .option(
      "--oidc-groups-claim <claim>",
      "the ID token claim listing groups, default groups (KEYHOLE_OIDC_GROUPS_CLAIM)",
    )
    .option(
      "--approval-webhook <url>",
      "Slack-compatible webhook announcing pending requests and break-glass (KEYHOLE_APPROVAL_WEBHOOK)",
    )
    .option(
      "--approval-webhook-file <file>",
      "read the --approval-webhook URL (and its secret) from FILE (KEYHOLE_APPROVAL_WEBHOOK_FILE)",
    )
    .option(
      "--rate-limit-per-minute <n>",
      "requests one subject may create per minute, 0 = off, default 30 (KEYHOLE_RATE_LIMIT_PER_MINUTE)",
    )
    .option(
      "--review-overdue-hours <h>",
      "report open break-glass reviews older than this, default 24 (KEYHOLE_REVIEW_OVERDUE_HOURS)",
    )
    // Fleet (docs/fleet.md).
    .option(
      "--trigger-rules <file>",
      "alert trigger rules YAML for POST /v1/hooks/alertmanager (KEYHOLE_TRIGGER_RULES)",
    )
    .option(
      "--heartbeat-seconds <n>",
      "how often enrolled agents beat, default 15 (KEYHOLE_HEARTBEAT_SECONDS)",
    )
    .option(
      "--offline-after-seconds <n>",
      "an enrolled agent silent this long is offline, default 3 heartbeats (KEYHOLE_OFFLINE_AFTER_SECONDS)",
    )
    .option(
      "--agent-networks <env=cidr,…>",
      "where enrolled agents of ENV may connect from and be reached (repeatable); loopback, link-local and metadata addresses only if named (KEYHOLE_AGENT_NETWORKS)",
      collect,
      [],
    )
    // TLS (docs/operations.md, "TLS").
    .option(
      "--tls-cert <file>",
      "serve the API over HTTPS with this PEM certificate chain (KEYHOLE_TLS_CERT)",
    )
    .option("--tls-key <file>", "…and this PEM private key (KEYHOLE_TLS_KEY)")
    .option(
      "--agent-ca <file>",
      "PEM CA bundle agents' certificates must chain to, instead of the system's roots; enrolling agents must then serve HTTPS (KEYHOLE_AGENT_CA)",
    )
    .option(
      "--client-cert <file>",
      "PEM certificate presented to agents for mutual TLS (KEYHOLE_CLIENT_CERT)",
    )
    .option("--client-key <file>", "…and its PEM private key (KEYHOLE_CLIENT_KEY)")
    .option(
      "--tls-reload-seconds <n>",
      "how often the TLS files are checked for a rotation, default 10 (KEYHOLE_TLS_RELOAD_SECONDS)",
    )
    .option(
      "--nats <nats-url>",
      "reach agents on NATS (inventory transport: nats, or enrolled so) through this server, nats://HOST:PORT (KEYHOLE_NATS)",
    )
    .option("--nats-creds <file>", "NATS credentials: a .creds file or a user nkey seed (KEYHOLE_NATS_CREDS)")
    .option(
      "--dispatch-timeout-seconds <n>",
      "how long one dispatch may take, the agent's work and an s3-mode upload included, default 90 (KEYHOLE_DISPATCH_TIMEOUT_SECONDS)",
    )
    .option(
      "--sweep-interval-seconds <n>",
      "how often pending requests expire and old artifacts are deleted, default 30 (KEYHOLE_SWEEP_INTERVAL_SECONDS)",
    )
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent (KEYHOLE_LOG_LEVEL)")
    .option(
      "--audit-checkpoint-records <n>",
      "sign an audit checkpoint after this many new records, default 1000 (KEYHOLE_AUDIT_CHECKPOINT_RECORDS)",
    )
    .option(
      "--audit-checkpoint-seconds <n>",
      "…or this long after the last one, default 300 (KEYHOLE_AUDIT_CHECKPOINT_SECONDS)",
    )
    .option(
      "--audit-key <file>",
      "PKCS#8 Ed25519 key that signs audit checkpoints, e.g. a mounted Secret shared by replicas; default <data-dir>/audit-key.pem, generated (KEYHOLE_AUDIT_KEY)",
    )
    // Artifact store (docs/artifacts.md): the local folder <data-dir>/artifacts unless --s3-bucket.
    .option("--s3-bucket <bucket>", "store artifacts in this S3 bucket (KEYHOLE_S3_BUCKET)")
    .option("--s3-prefix <prefix>", "key prefix in the bucket, e.g. keyhole/ (KEYHOLE_S3_PREFIX)")
    .option("--s3-endpoint <url>", "an S3-compatible endpoint (MinIO, Ceph RGW, …) (KEYHOLE_S3_ENDPOINT)")
    .option(
      "--s3-force-path-style",
      "path-style addressing, for most S3-compatible stores (KEYHOLE_S3_FORCE_PATH_STYLE)",
    )
    .option("--s3-region <region>", "the bucket's region; default: the AWS chain's (KEYHOLE_S3_REGION)")
    .option("--s3-sse <mode>", "server-side encryption: AES256, aws:kms or aws:kms:dsse (KEYHOLE_S3_SSE)")
    .option("--s3-sse-kms-key-id <key>", "the KMS key for --s3-sse aws:kms (KEYHOLE_S3_SSE_KMS_KEY_ID)")
    .option("--s3-part-size-mib <n>", "multipart part size in MiB, default 8 (KEYHOLE_S3_PART_SIZE_MIB)")
    .option(
      "--artifact-max-mib <n>",
      "largest artifact stored, in MiB, default 4096 (KEYHOLE_ARTIFACT_MAX_MIB)",
    )
    .option(
      "--inline-results-max-mib <n>",
      "agents' inline answers held in memory at once, all requests together, in MiB, default 64 (KEYHOLE_INLINE_RESULTS_MAX_MIB)",
    )
    .addHelpText(
      "after",
      "\nS3 credentials come from the standard AWS chain (AWS_* variables, shared config, SSO, web identity, instance\nroles); keyhole never reads them itself. Artifact retention is per environment in the policy file:\n  environments: { production: { approvals: 1, artifactRetentionDays: 90 } }   (default 30 days; docs/artifacts.md)",
    )
    .action(async (opts) => {
      const { runController } = await import("../../controller/main.js");
      try {
        await runController(opts, env, { handleSignals: true });
      } catch (err) {
        throw startupError(err);
      }
    });
}
