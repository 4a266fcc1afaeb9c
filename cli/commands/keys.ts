/** `keyhole keys generate`: an Ed25519 signing key and the JWKS agents pin. */
import type { Command } from "commander";
import { printJson, printLine } from "../output.js";

export function registerKeyCommands(program: Command): void {
  const keys = program.command("keys").description("signing keys");
  keys
    .command("generate")
    .description("write DIR/signing-key.pem (PKCS#8 Ed25519, mode 0600) and DIR/jwks.json (public keys)")
    .requiredOption(
      "--out <dir>",
      "the folder to write into (created if missing; an existing key is never overwritten)",
    )
    .option("--environment <env>", "the environment the key signs for (prefixes the kid)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const { generateSigningKey } = await import("../../controller/keys.js");
      const result = await generateSigningKey(opts.out, opts.environment);
      if (opts.json) printJson(result);
      else {
        printLine(`signing key  ${result.privateKeyPath} (keep it secret; mode 0600)`);
        printLine(`public JWKS  ${result.jwksPath} (give it to agents as --trusted-keys)`);
        printLine(`kid          ${result.kid}`);
      }
    });
}
