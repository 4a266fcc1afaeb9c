/**
 * `keyhole agent`: the sidecar. Registered by the full CLI and, alone, by the agent image's entry
 * (cli/agent-main.ts), so both answer the same flags and `KEYHOLE_*` variables.
 */
import type { Command } from "commander";
import { startupError } from "../errors.js";
import { collect } from "../params.js";

export function registerAgentCommand(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("agent")
    .description(
      "run the sidecar agent; every flag can also be set as KEYHOLE_<FLAG> (e.g. KEYHOLE_TRUSTED_KEYS)",
    )
    .option("--id <id>", "this agent's id; requests must name it as their audience (KEYHOLE_ID)")
    .option(
      "--environment <env>",
      "the only environment whose requests this agent accepts (KEYHOLE_ENVIRONMENT)",
    )
    .option(
      "--trusted-keys <jwks>",
      "JWKS file of the controller's public keys for this environment (KEYHOLE_TRUSTED_KEYS)",
    )
    .option("--listen <host:port>", "address to listen on (KEYHOLE_LISTEN)", undefined)
    .option(
      "--target <pid|name>",
      "the process to inspect; default: the only other process in the PID namespace (KEYHOLE_TARGET)",
    )
    .option(
      "--log-root <dir>",
      "a folder log-tail may read (repeatable; KEYHOLE_LOG_ROOT, comma-separated)",
      collect,
      [],
    )
    .option("--actions <a,b>", "the actions to enable; default: all (KEYHOLE_ACTIONS)")
    .option(
      "--max-ttl-seconds <n>",
      "the longest request lifetime accepted, default 300 (KEYHOLE_MAX_TTL_SECONDS)",
    )
    .option(
      "--replay-cache-size <n>",
      "unexpired request ids remembered at once, default 50000 (KEYHOLE_REPLAY_CACHE_SIZE)",
    )
    .option(
      "--fingerprint-key-file <file>",
      "per-deployment secret for fingerprints of masked values (KEYHOLE_FINGERPRINT_KEY_FILE)",
    )
    .option(
      "--identity-key-file <file>",
      "the agent's own Ed25519 private key (PKCS#8 PEM, mode 0600) that signs its answers; default: generated on first start into the state dir as identity-key.pem (KEYHOLE_IDENTITY_KEY_FILE)",
    )
    // Enrollment (docs/fleet.md).
    .option("--controller <url>", "enroll with this controller and keep a heartbeat (KEYHOLE_CONTROLLER)")
    .option(
      "--enroll-token-file <file>",
      "file holding the enrollment token for this agent's environment, e.g. a mounted Secret (KEYHOLE_ENROLL_TOKEN_FILE)",
    )
    .option(
      "--enroll-token <token>",
      "the token itself: visible to the workload in /proc (cmdline, environ); prefer --enroll-token-file (KEYHOLE_ENROLL_TOKEN)",
    )
    .option(
      "--label <key=value>",
      "a label selectors can match (repeatable; KEYHOLE_LABELS, comma-separated)",
      collect,
      [],
    )
    .option(
      "--advertise-url <url>",
      "where the controller reaches this agent; default: the address it enrolls from (KEYHOLE_ADVERTISE_URL)",
    )
    // TLS (docs/agent.md, "TLS").
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate chain (KEYHOLE_TLS_CERT)")
    .option("--tls-key <file>", "…and this PEM private key (KEYHOLE_TLS_KEY)")
    .option(
      "--client-ca <file>",
      "mutual TLS: serve requests only to clients with a certificate this PEM CA signed (KEYHOLE_CLIENT_CA)",
    )
    .option(
      "--controller-ca <file>",
      "PEM CA bundle the controller's HTTPS certificate is checked against at enrollment; default: the system's roots (KEYHOLE_CONTROLLER_CA)",
    )
    .option(
      "--tls-reload-seconds <n>",
      "how often the TLS files are checked for a rotation, default 10 (KEYHOLE_TLS_RELOAD_SECONDS)",
    )
    // The NATS transport (docs/transport.md).
    .option(
      "--connect <nats-url>",
      "take requests from a NATS server (nats://HOST:PORT) instead of listening: the agent opens no port (KEYHOLE_CONNECT)",
    )
    .option(
      "--nats-creds <file>",
      "NATS credentials: a .creds file or a user nkey seed, e.g. a mounted Secret (KEYHOLE_NATS_CREDS)",
    )
    .option(
      "--memory-guard-unseen <refuse|allow>",
      "when the heap-snapshot memory guard cannot see the target's memory cgroup: refuse (default) or allow an unguarded snapshot (KEYHOLE_MEMORY_GUARD_UNSEEN)",
    )
    .option(
      "--spool-max-mib <n>",
      "the most a bundle spools of one streamed entry (a heap snapshot) into the temp directory, in MiB, default 768; keep it below the temp volume's sizeLimit (KEYHOLE_SPOOL_MAX_MIB)",
    )
    .action(async (opts) => {
      const { runAgent } = await import("../../agent/main.js");
      try {
        await runAgent(opts, env, { handleSignals: true });
      } catch (err) {
        throw startupError(err);
      }
    });
}
