/**
 * `keyhole nats permissions`: the NATS server-side permissions for one agent id (or for the
 * controller), as a nats-server `authorization.users` entry and as `nsc add user` flags
 * (docs/transport.md). With `--seed-out FILE` it also makes the user's nkey: the seed goes to FILE
 * (mode 0600, the agent's or controller's `--nats-creds`), the entry names the public key.
 */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { usageError } from "../errors.js";
import { printJson, printLine } from "../output.js";

export function registerNatsCommands(program: Command): void {
  const nats = program.command("nats").description("the NATS transport (docs/transport.md)");
  nats
    .command("permissions")
    .description(
      "print the nats-server permissions of one agent (its own subject and answers, nothing else) or of the controller",
    )
    .option("--agent <id>", "the agent's id")
    .option("--controller", "the controller replicas' permissions instead")
    .option("--nkey <public-key>", "name this user nkey (U…) in the entry")
    .option(
      "--seed-out <file>",
      "make a new user nkey: write its seed to FILE (mode 0600; give it as --nats-creds) and name its public key in the entry",
    )
    .option("--json", "print JSON")
    .action(async (opts) => {
      if (Boolean(opts.agent) === Boolean(opts.controller))
        throw usageError("give --agent ID or --controller (one of them)");
      if (opts.nkey && opts.seedOut) throw usageError("--nkey and --seed-out exclude each other");
      if (opts.nkey && !/^U[A-Z2-7]{55}$/.test(opts.nkey))
        throw usageError("--nkey must be a user public nkey (U followed by 55 base32 characters)");
      const perms = await import("../../controller/dispatch/nats-permissions.js");
      let permissions: ReturnType<typeof perms.controllerPermissions>;
      try {
        permissions = opts.agent ? perms.agentPermissions(opts.agent) : perms.controllerPermissions();
      } catch (err) {
        throw usageError(`--agent: ${(err as Error).message}`);
      }
      let nkey: string | undefined = opts.nkey;
      if (opts.seedOut) {
        const { nkeys } = await import("@nats-io/transport-node");
        const user = nkeys.createUser();
        // wx: an existing seed is never overwritten.
        writeFileSync(opts.seedOut, `${new TextDecoder().decode(user.getSeed())}\n`, {
          mode: 0o600,
          flag: "wx",
        });
        nkey = user.getPublicKey();
      }
      const who = opts.agent ? `agent ${opts.agent}` : "keyhole controller";
      if (opts.json) {
        printJson({
          ...(opts.agent ? { agent: opts.agent } : { controller: true }),
          ...(nkey ? { nkey } : {}),
          ...(opts.seedOut ? { seedFile: opts.seedOut } : {}),
          permissions,
          nsc: perms.nscFlags(permissions),
        });
        return;
      }
      printLine(
        perms
          .natsUserEntry(
            permissions,
            opts.agent
              ? `${who}: subscribe to its own subject and answer what it receives, nothing else`
              : `${who}: publish envelopes to agents' subjects, receive answers on its inbox`,
            nkey,
          )
          .trimEnd(),
      );
      printLine(
        `# with nsc (operator/JWT accounts): nsc add user --name <name> ${perms.nscFlags(permissions).join(" ")}`,
      );
      if (opts.seedOut)
        printLine(
          `# the seed is in ${opts.seedOut} (mode 0600): give it to the ${opts.agent ? "agent" : "controller"} as --nats-creds`,
        );
    });
}
