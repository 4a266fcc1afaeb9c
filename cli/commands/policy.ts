/**
 * `keyhole policy check FILE` validates a policy file before it is deployed; `keyhole policy explain`
 * says which binding and rule allow a subject an action on a target, or why nothing does — on a file
 * (`--policy`), or on the running controller's live policy (KEYHOLE_URL, KEYHOLE_TOKEN).
 */
import type { Command } from "commander";
import { ControllerClient } from "../client.js";
import { CliError, usageError } from "../errors.js";
import { printJson, printLine } from "../output.js";

function splitGroups(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean);
}

/** A ConfigError (bad file) becomes a failure listing every problem; anything else passes through. */
function asFileError(err: unknown): unknown {
  if (err instanceof Error && err.name === "ConfigError")
    return new CliError(err.message, 1, "KH_POLICY_INVALID");
  return err;
}

export function registerPolicyCommands(program: Command, env: NodeJS.ProcessEnv): void {
  const policy = program.command("policy").description("check a policy file; explain a decision");

  policy
    .command("check")
    .description("validate a policy file (and an inventory against it); exit 1 listing every problem")
    .argument("<file>", "the policy YAML")
    .option("--inventory <file>", "also check this inventory against the policy")
    .option("--json", "print JSON")
    .action(async (file: string, opts) => {
      const { loadPolicy } = await import("../../controller/policy/load-policy.js");
      const { loadInventory } = await import("../../controller/inventory/load-inventory.js");
      let parsed: Awaited<ReturnType<typeof loadPolicy>>;
      let agents: number | undefined;
      try {
        parsed = await loadPolicy(file);
        if (opts.inventory) agents = (await loadInventory(opts.inventory, parsed)).agents.size;
      } catch (err) {
        if (opts.json && err instanceof Error && err.name === "ConfigError") {
          printJson({ valid: false, file, problems: (err as Error & { problems: string[] }).problems });
          throw new CliError(`invalid: ${file}`, 1, "KH_POLICY_INVALID");
        }
        throw asFileError(err);
      }
      const environments = [...parsed.environments].map(([name, e]) => ({
        name,
        approvals: e.approvals,
        breakGlass: e.breakGlass,
        maxTtlSeconds: e.maxTtlSeconds,
        pendingTtlSeconds: e.pendingTtlSeconds,
      }));
      if (opts.json) {
        printJson({
          valid: true,
          file,
          sha256: parsed.digest,
          environments,
          roles: parsed.roles.size,
          bindings: parsed.bindings.length,
          ...(agents === undefined ? {} : { agents }),
        });
        return;
      }
      printLine(`ok ${file} (sha256 ${parsed.digest})`);
      for (const e of environments) {
        printLine(
          `  ${e.name}: ${e.approvals} approval(s), break-glass ${e.breakGlass ? "allowed" : "forbidden"}, envelope ttl ${e.maxTtlSeconds}s, pending ${e.pendingTtlSeconds}s`,
        );
      }
      printLine(`  ${parsed.roles.size} role(s), ${parsed.bindings.length} binding(s)`);
      if (agents !== undefined) printLine(`  inventory ${opts.inventory}: ${agents} agent(s)`);
    });

  policy
    .command("explain")
    .description("say which binding and rule allow SUBJECT the ACTION on TARGET, or why nothing does")
    .requiredOption("--subject <subject>", "user:<email> or svc:<name>")
    .requiredOption("--action <action>", "the action, e.g. env")
    .option("--target <agent>", "the agent id (its environment comes from the inventory)")
    .option("--environment <env>", "with --policy: the environment, instead of a target")
    .option("--groups <g1,g2>", "groups the subject carries (from its token or ID token)")
    .option("--policy <file>", "explain this file instead of the running controller's policy")
    .option("--inventory <file>", "with --policy and --target: the inventory that names the target")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const { explain, renderExplanation } = await import("../../controller/policy/explain.js");
      const { canonicalSubject, canonicalGroup } = await import("../../controller/identity/subject.js");
      // The same canonical subject the controller decides on (user:Alice@… is user:alice@…).
      const canonical = canonicalSubject(String(opts.subject));
      if ("problem" in canonical) throw usageError(`--subject ${canonical.problem}`);
      opts.subject = canonical.subject;
      const groups = splitGroups(opts.groups).map((g) => canonicalGroup(g) ?? g);
      let explanation: ReturnType<typeof explain>;
      if (opts.policy) {
        if (!opts.environment && !(opts.target && opts.inventory))
          throw usageError("with --policy, give --environment, or --target and --inventory");
        const { loadPolicy } = await import("../../controller/policy/load-policy.js");
        const { loadInventory } = await import("../../controller/inventory/load-inventory.js");
        try {
          const parsed = await loadPolicy(opts.policy);
          let environment: string = opts.environment;
          if (opts.target) {
            const agent = (await loadInventory(opts.inventory, parsed)).agents.get(opts.target);
            if (!agent)
              throw new CliError(
                `target "${opts.target}" is not in ${opts.inventory}`,
                1,
                "KH_UNKNOWN_TARGET",
              );
            if (opts.environment && opts.environment !== agent.environment)
              throw usageError(
                `--target ${opts.target} is in "${agent.environment}", not "${opts.environment}"`,
              );
            environment = agent.environment;
          }
          explanation = explain(
            parsed,
            { subject: opts.subject, groups },
            opts.action,
            environment,
            opts.target,
          );
        } catch (err) {
          throw asFileError(err);
        }
      } else {
        if (!opts.target) throw usageError("--target is required (or --policy FILE with --environment)");
        if (opts.environment || opts.inventory)
          throw usageError("--environment and --inventory need --policy");
        const search = new URLSearchParams({
          subject: opts.subject,
          action: opts.action,
          target: opts.target,
        });
        if (groups.length > 0) search.set("groups", groups.join(","));
        ({ explanation } = await ControllerClient.fromEnv(env).call<{
          explanation: ReturnType<typeof explain>;
        }>("GET", `/v1/policy/explain?${search}`));
      }
      if (opts.json) printJson({ explanation });
      else printLine(renderExplanation(explanation));
    });
}
