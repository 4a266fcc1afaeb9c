/** `keyhole agents` and `keyhole enroll-token issue|revoke|list`: the fleet (docs/fleet.md). */
import type { Command } from "commander";
import { ControllerClient } from "../client.js";
import { usageError } from "../errors.js";
import { note, printJson, printLine, table } from "../output.js";

export interface AgentView {
  id: string;
  environment: string;
  url?: string;
  transport?: "nats";
  labels: Record<string, string>;
  source: "static" | "enrolled";
  state: "static" | "online" | "offline" | "revoked";
  actions?: string[];
  enrolledAt?: string;
  lastSeenAt?: string;
  /** Its pinned public key (issue 21). */
  publicKey?: string;
}

const STATES = ["static", "online", "offline", "revoked"];

function labelsText(labels: Record<string, string>): string {
  return (
    Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",") || "-"
  );
}

export function registerAgentCommands(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("agents")
    .description("list the agents the controller can reach: the inventory file and enrolled agents")
    .option("--selector <k=v,…>", "only agents whose labels match (k=v, k!=v, k, !k; all must hold)")
    .option("--environment <env>", "only agents of this environment")
    .option("--state <state>", `only agents in this state (${STATES.join(", ")})`)
    .option("--json", "print JSON")
    .action(async (opts) => {
      if (opts.state && !STATES.includes(opts.state))
        throw usageError(`--state must be one of ${STATES.join(", ")}`);
      const search = new URLSearchParams();
      if (opts.selector !== undefined) search.set("selector", opts.selector);
      if (opts.environment) search.set("environment", opts.environment);
      if (opts.state) search.set("state", opts.state);
      const qs = search.size > 0 ? `?${search}` : "";
      const { agents } = await ControllerClient.fromEnv(env).call<{ agents: AgentView[] }>(
        "GET",
        `/v1/agents${qs}`,
      );
      if (opts.json) return printJson({ agents });
      if (agents.length === 0) return printLine("no agents");
      printLine(
        table([
          ["ID", "ENVIRONMENT", "STATE", "LABELS", "URL / TRANSPORT", "LAST SEEN"],
          ...agents.map((a) => [
            a.id,
            a.environment,
            a.state,
            labelsText(a.labels),
            a.url ?? (a.transport === "nats" ? "nats" : "-"),
            a.lastSeenAt ?? "-",
          ]),
        ]),
      );
    });

  program
    .command("agent-key")
    .description("enrolled agents' pinned public keys (docs/fleet.md#agent-keys)")
    .command("allow-rotation")
    .description(
      "let an enrolled agent re-enroll once with another key (a new pod without its state dir, a replaced key); audited",
    )
    .argument("<id>", "the enrolled agent's id")
    .option(
      "--public-key <key>",
      "only this key (base64url, from the new agent's start-up log); default: any",
    )
    .option("--ttl <duration>", "how long the allowance lasts: 30m, 1h, 2d (default 1h)")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--database <url>", "the controller's database (KEYHOLE_DATABASE)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      const { allowKeyRotation } = await import("../../controller/fleet/cli.js");
      const allowed = await allowKeyRotation({
        dataDir: opts.dataDir,
        database: opts.database,
        env,
        id,
        publicKey: opts.publicKey,
        ttl: opts.ttl,
      });
      if (opts.json) return printJson(allowed);
      printLine(
        `agent ${allowed.id} may re-enroll with ${allowed.publicKey ?? "any key"} until ${allowed.until} (pinned now: ${allowed.currentKey ?? "none"})`,
      );
    });

  const tokens = program
    .command("enroll-token")
    .description("enrollment tokens: let agents register themselves into one environment");
  tokens
    .command("issue")
    .description("issue an enrollment token for one environment; prints it once")
    .requiredOption("--environment <env>", "the only environment agents may enroll into with it")
    .option("--ttl <duration>", "lifetime: 30d, 8h, 90m (default 365d)")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--database <url>", "the controller's database (KEYHOLE_DATABASE)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const { issueEnrollToken } = await import("../../controller/fleet/cli.js");
      const issued = await issueEnrollToken({
        dataDir: opts.dataDir,
        database: opts.database,
        env,
        environment: opts.environment,
        ...(opts.ttl ? { ttl: opts.ttl } : {}),
      });
      if (opts.json) printJson(issued);
      else {
        printLine(issued.token);
        note(
          `enrollment token ${issued.id} for environment ${issued.environment}, expires ${issued.expiresAt}`,
        );
      }
    });
  tokens
    .command("revoke")
    .description("revoke an enrollment token: its agents are refused at their next heartbeat")
    .argument("<id>", "the token id printed at issue")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--database <url>", "the controller's database (KEYHOLE_DATABASE)")
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      const { revokeEnrollToken } = await import("../../controller/fleet/cli.js");
      const revoked = await revokeEnrollToken({ dataDir: opts.dataDir, database: opts.database, env, id });
      if (opts.json) printJson(revoked);
      else printLine(`enrollment token ${revoked.id} revoked at ${revoked.revokedAt}`);
    });
  tokens
    .command("list")
    .description("list enrollment tokens (never their secrets)")
    .option("--data-dir <dir>", "the controller's data dir (KEYHOLE_DATA_DIR; default ./keyhole-data)")
    .option("--database <url>", "the controller's database (KEYHOLE_DATABASE)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const { listEnrollTokens } = await import("../../controller/fleet/cli.js");
      const list = await listEnrollTokens({ dataDir: opts.dataDir, database: opts.database, env });
      if (opts.json) return printJson({ tokens: list });
      if (list.length === 0) return printLine("no enrollment tokens");
      printLine(
        table([
          ["ID", "ENVIRONMENT", "CREATED", "EXPIRES", "REVOKED"],
          ...list.map((t) => [t.id, t.environment, t.createdAt, t.expiresAt, t.revokedAt ?? "-"]),
        ]),
      );
    });
}
