/**
 * `keyhole login`, `whoami`, `logout`: a saved sign-in per profile (cli/profiles.ts), so people need
 * not keep a token in their shell's environment. Login checks the token with the controller before
 * saving it; logout forgets it here (a controller-issued token ends for good with `keyhole token
 * revoke`, run by whoever administers the controller).
 */
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { ControllerClient, DEFAULT_CONTROLLER_URL } from "../client.js";
import { CliError, usageError } from "../errors.js";
import { note, oneLine, printJson, printLine } from "../output.js";
import { profileName, readProfile, writeProfile } from "../profiles.js";

/** Reads one line from stdin; on a terminal without echo (a token is a password). */
async function readSecretLine(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) text += chunk;
    return text.split("\n")[0]!.trim();
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding("utf8");
  let line = "";
  try {
    for await (const chunk of stdin as AsyncIterable<string>) {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return line.trim();
        if (ch === "\u0003") throw new CliError("cancelled", 1, "KH_CANCELLED");
        if (ch === "\u007f") line = line.slice(0, -1);
        else line += ch;
      }
    }
    return line.trim();
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/** Asks a yes/no question on the terminal; anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function registerLoginCommands(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("login")
    .description("sign in to a controller and save the URL and token in your profile (mode 0600)")
    .option("--url <url>", "the controller (default KEYHOLE_URL, the profile's, or the local default)")
    .option("--profile <name>", "the profile to save into (default KEYHOLE_PROFILE or default)")
    .option("--token-stdin", "read the token from stdin instead of asking on the terminal")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const name = profileName(env, opts.profile);
      const url = String(
        opts.url ?? env.KEYHOLE_URL ?? readProfile(env, name)?.url ?? DEFAULT_CONTROLLER_URL,
      ).replace(/\/+$/, "");
      if (!/^https?:\/\/[^/?#\s]+$/.test(url)) throw usageError("--url must be http(s)://host[:port]");
      if (!opts.tokenStdin && !process.stdin.isTTY)
        throw usageError("no terminal to ask on: pipe the token with --token-stdin");
      const token = await readSecretLine("token (from `keyhole token issue`): ");
      if (!token) throw usageError("no token given");
      const who = await new ControllerClient(url, token).whoami();
      const path = writeProfile(env, name, {
        url,
        token,
        subject: who.subject,
        savedAt: new Date().toISOString(),
      });
      if (opts.json)
        printJson({ profile: name, url, subject: who.subject, groups: who.groups, config: path });
      else printLine(oneLine(`signed in to ${url} as ${who.subject} (profile ${name}; saved in ${path})`));
      if (env.KEYHOLE_TOKEN) note("note: KEYHOLE_TOKEN is set and wins over the saved profile");
    });

  program
    .command("whoami")
    .description("who the controller says you are, and where your credentials come from")
    .option("--profile <name>", "the profile (default KEYHOLE_PROFILE or default)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const client = ControllerClient.fromEnv(env, opts.profile);
      const who = await client.whoami();
      if (opts.json) printJson({ ...who, url: client.baseUrl, credentials: client.credentialSource });
      else {
        // The subject and groups are the controller's words: one line each, nothing a terminal acts
        // on, so a subject cannot add a "credentials:" line of its own (console attack F9).
        printLine(oneLine(`${who.subject}${who.groups.length ? ` (groups: ${who.groups.join(", ")})` : ""}`));
        printLine(`controller: ${oneLine(client.baseUrl)}`);
        printLine(`credentials: ${oneLine(client.credentialSource)}`);
      }
    });

  program
    .command("logout")
    .description("forget the saved token of a profile")
    .option("--profile <name>", "the profile (default KEYHOLE_PROFILE or default)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const name = profileName(env, opts.profile);
      const saved = readProfile(env, name);
      const path = writeProfile(
        env,
        name,
        saved ? { ...saved, token: undefined, subject: undefined } : undefined,
      );
      if (opts.json) printJson({ profile: name, signedOut: Boolean(saved?.token), config: path });
      else
        printLine(
          saved?.token
            ? `signed out of profile ${name} (its token is forgotten here; \`keyhole token revoke\` ends it on the controller)`
            : `profile ${name} was not signed in`,
        );
    });
}
