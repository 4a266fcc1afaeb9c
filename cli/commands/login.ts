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
import { loginWithBrowser, loginWithDevice } from "../oidc-login.js";
import { note, oneLine, printJson, printLine } from "../output.js";
import { profileName, readProfile, writeProfile } from "../profiles.js";
import { trustCaFromEnv } from "../trust-ca.js";

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
    .description(
      "sign in to a controller and save the URL and token in your profile (mode 0600): a controller-issued token, or your OpenID provider (--issuer: browser, or --device)",
    )
    .option("--url <url>", "the controller (default KEYHOLE_URL, the profile's, or the local default)")
    .option("--profile <name>", "the profile to save into (default KEYHOLE_PROFILE or default)")
    .option("--token-stdin", "read the token from stdin instead of asking on the terminal")
    .option(
      "--issuer <url>",
      "sign in with this OpenID provider instead of a token (saved in the profile for next time)",
    )
    .option("--client-id <id>", "the client id registered at the provider (the controller's --oidc-audience)")
    .option("--device", "with an OpenID provider: the device flow, for machines without a browser")
    .option("--no-browser", "with an OpenID provider: print the sign-in page's address, do not open it")
    .option("--timeout <seconds>", "with an OpenID provider: how long to wait for the sign-in", "300")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const name = profileName(env, opts.profile);
      const saved = readProfile(env, name);
      const url = String(opts.url ?? env.KEYHOLE_URL ?? saved?.url ?? DEFAULT_CONTROLLER_URL).replace(
        /\/+$/,
        "",
      );
      if (!/^https?:\/\/[^/?#\s]+$/.test(url)) throw usageError("--url must be http(s)://host[:port]");
      // A controller (or provider) with a certificate of a private CA: KEYHOLE_CA, as for every other command.
      trustCaFromEnv(env);
      const issuer: string | undefined = opts.issuer ?? (opts.tokenStdin ? undefined : saved?.issuer);
      const clientId: string | undefined = opts.clientId ?? saved?.clientId;
      let token: string;
      let expiresAt: number | undefined;
      if (issuer !== undefined) {
        if (opts.tokenStdin)
          throw usageError("--token-stdin is for tokens; --issuer signs in with a provider");
        if (!clientId) throw usageError("--issuer needs --client-id (the controller's --oidc-audience)");
        const timeout = Number(opts.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0)
          throw usageError("--timeout must be a positive number of seconds");
        const how = {
          issuer,
          clientId,
          openBrowser: opts.browser !== false,
          timeoutMs: timeout * 1000,
          tell: note,
        };
        ({ idToken: token, expiresAt } = await (opts.device ? loginWithDevice(how) : loginWithBrowser(how)));
      } else {
        if (!opts.tokenStdin && !process.stdin.isTTY)
          throw usageError("no terminal to ask on: pipe the token with --token-stdin");
        token = await readSecretLine("token (from `keyhole token issue`): ");
        if (!token) throw usageError("no token given");
      }
      // The controller says who that is (and refuses a token it does not accept): nothing is saved first.
      const who = await new ControllerClient(url, token).whoami();
      const path = writeProfile(env, name, {
        url,
        token,
        subject: who.subject,
        savedAt: new Date().toISOString(),
        ...(issuer !== undefined ? { issuer, clientId } : {}),
        ...(expiresAt !== undefined ? { expiresAt: new Date(expiresAt).toISOString() } : {}),
      });
      if (opts.json)
        printJson({
          profile: name,
          url,
          subject: who.subject,
          groups: who.groups,
          config: path,
          ...(issuer !== undefined
            ? { issuer, ...(expiresAt ? { expiresAt: new Date(expiresAt).toISOString() } : {}) }
            : {}),
        });
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
        saved ? { ...saved, token: undefined, subject: undefined, expiresAt: undefined } : undefined,
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
