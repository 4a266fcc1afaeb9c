/**
 * Saved sign-ins (`keyhole login`): the controller URL and token per profile, in one JSON file only
 * its owner can read (mode 0600, in a 0700 folder): `$KEYHOLE_CONFIG`, else
 * `$XDG_CONFIG_HOME/keyhole/config.json`, else `~/.config/keyhole/config.json`. KEYHOLE_URL and
 * KEYHOLE_TOKEN still win over it; KEYHOLE_PROFILE (or `--profile`) picks the profile.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";
import { CliError } from "./errors.js";

const profileSchema = z.object({
  url: z.string().optional(),
  token: z.string().optional(),
  subject: z.string().optional(),
  savedAt: z.string().optional(),
  /** Signed in with an OpenID provider (`keyhole login --issuer`): which, as which client, until when. */
  issuer: z.string().optional(),
  clientId: z.string().optional(),
  expiresAt: z.string().optional(),
});
const fileSchema = z.object({ profiles: z.record(z.string(), profileSchema).default({}) });

export type Profile = z.infer<typeof profileSchema>;

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.KEYHOLE_CONFIG) return env.KEYHOLE_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "keyhole", "config.json");
}

export function profileName(env: NodeJS.ProcessEnv, option?: string): string {
  const name = option ?? env.KEYHOLE_PROFILE ?? "default";
  if (!PROFILE_NAME.test(name))
    throw new CliError(`profile "${name}": a name is letters, digits and . _ - (at most 64)`, 2, "KH_USAGE");
  return name;
}

const configError = (message: string) => new CliError(message, 2, "KH_CONFIG");

/**
 * Refuses, as ssh does with its own files, a config file or folder someone else could have written:
 * owned by another user (root aside), or writable by its group or by everyone (console attack F8).
 * Whoever can write it decides where the token goes (a profile's URL) and which token is sent.
 */
function assertOwnedAndPrivate(path: string, kind: "file" | "folder"): void {
  const st = statSync(path);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0)
    throw configError(
      `the config ${kind} ${path} is owned by uid ${st.uid}, not by you (uid ${uid}): refusing to use it; remove it or chown it to yourself`,
    );
  if ((st.mode & 0o022) !== 0)
    throw configError(
      `the config ${kind} ${path} is writable by ${st.mode & 0o002 ? "everyone" : "its group"} (mode ${(st.mode & 0o777).toString(8).padStart(3, "0")}): refusing to use it; chmod ${kind === "file" ? "600" : "700"} it`,
    );
}

function readAll(path: string): z.infer<typeof fileSchema> {
  if (existsSync(dirname(path))) assertOwnedAndPrivate(dirname(path), "folder");
  if (!existsSync(path)) return { profiles: {} };
  assertOwnedAndPrivate(path, "file");
  // A token file others can read is a leaked token: refuse to use it, and say how to fix it.
  if ((statSync(path).mode & 0o077) !== 0)
    throw configError(`the config file ${path} is readable by others: chmod 600 it (it holds tokens)`);
  try {
    return fileSchema.parse(JSON.parse(readFileSync(path, "utf8")));
  } catch (err) {
    throw configError(`${path} is not a keyhole config file: ${(err as Error).message}`);
  }
}

/** The saved profile, or undefined when there is none. */
export function readProfile(env: NodeJS.ProcessEnv, name: string): Profile | undefined {
  return readAll(configPath(env)).profiles[name];
}

/** Saves (or, with `undefined`, removes) one profile; the file is written whole, 0600, then renamed. */
export function writeProfile(env: NodeJS.ProcessEnv, name: string, profile: Profile | undefined): string {
  const path = configPath(env);
  const all = readAll(path);
  if (profile) all.profiles[name] = profile;
  else delete all.profiles[name];
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  assertOwnedAndPrivate(dirname(path), "folder");
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  return path;
}
