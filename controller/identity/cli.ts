/**
 * Token administration without a running controller: `keyhole token issue` and `keyhole token revoke`
 * open the store on the data dir, act, write the audit record and close it again. SQLite's WAL mode
 * and busy timeout let this run beside a live controller on the same file.
 */
import { userInfo } from "node:os";
import { type ControllerOptions, loadControllerConfig } from "../config.js";
import { parseDurationSeconds } from "../duration.js";
import { ConfigError, ControllerError } from "../errors.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/types.js";
import { mintToken, newTokenSchema } from "./tokens.js";

/** Where the store is: the same `--data-dir` / `--database` (or KEYHOLE_DATA_DIR / KEYHOLE_DATABASE) as the controller. */
export interface StoreLocation {
  dataDir?: string;
  database?: string;
  /** Reads only KEYHOLE_DATA_DIR, KEYHOLE_DATABASE and KEYHOLE_DATABASE_FILE from it. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Recorded as the audit actor; default `local:<os user>`. */
  actor?: string;
}

export interface IssuedToken {
  readonly id: string;
  /** The bearer token: shown once, stored nowhere. */
  readonly token: string;
  readonly subject: string;
  readonly groups: readonly string[];
  /** ISO 8601. */
  readonly expiresAt: string;
}

/**
 * Issues a bearer token. `ttl` is seconds or `30m`, `8h`, `7d` (default 8h); `groups` an array or a
 * comma-separated list. Throws a ConfigError for a bad subject, group or ttl.
 */
export async function issueToken(
  options: StoreLocation & { subject: string; groups?: readonly string[] | string; ttl?: string | number },
): Promise<IssuedToken> {
  const groups =
    typeof options.groups === "string"
      ? options.groups
          .split(",")
          .map((g) => g.trim())
          .filter(Boolean)
      : options.groups;
  let ttlSeconds: number | undefined;
  try {
    ttlSeconds = options.ttl === undefined ? undefined : parseDurationSeconds(String(options.ttl));
  } catch (err) {
    throw new ConfigError("invalid token", [`ttl: ${(err as Error).message}`], { cause: err });
  }
  const parsed = newTokenSchema.safeParse({ subject: options.subject, groups, ttlSeconds });
  if (!parsed.success) {
    throw new ConfigError(
      "invalid token",
      parsed.error.issues.map((i) => `${i.path.join(".") || "(input)"}: ${i.message}`),
    );
  }
  return withStore(options, async (store) => {
    const now = Date.now();
    const { token, record } = mintToken(parsed.data, now);
    await store.insertToken(
      record,
      {
        actor: actorOf(options),
        event: "token.issued",
        details: {
          tokenId: record.id,
          subject: record.subject,
          groups: record.groups,
          expiresAt: new Date(record.expiresAt).toISOString(),
          // What the controller checks the row against before it accepts the token (issue 23 attack, N4).
          secretHash: record.secretHash,
        },
      },
      now,
    );
    return {
      id: record.id,
      token,
      subject: record.subject,
      groups: record.groups,
      expiresAt: new Date(record.expiresAt).toISOString(),
    };
  });
}

/**
 * Revokes a token by id (the part after `kh_`, as `issueToken` returned it). Revoking twice is not an
 * error and returns the first revocation time; an unknown id throws KH_NOT_FOUND.
 */
export async function revokeToken(
  options: StoreLocation & { id: string },
): Promise<{ id: string; revokedAt: string }> {
  return withStore(options, async (store) => {
    const now = Date.now();
    const outcome = await store.revokeToken(options.id, now, {
      actor: actorOf(options),
      event: "token.revoked",
      details: { tokenId: options.id },
    });
    if (outcome.kind === "not-found")
      throw new ControllerError("KH_NOT_FOUND", `no token with id "${options.id}"`);
    return { id: options.id, revokedAt: new Date(outcome.token.revokedAt ?? now).toISOString() };
  });
}

async function withStore<T>(location: StoreLocation, fn: (store: Store) => Promise<T>): Promise<T> {
  const env = location.env ?? {};
  const options: ControllerOptions = {
    dataDir: location.dataDir ?? (env.KEYHOLE_DATA_DIR || undefined),
    database: location.database ?? (env.KEYHOLE_DATABASE || undefined),
    // The URL may hold a password: KEYHOLE_DATABASE_FILE keeps it out of the environment.
    databaseFile: location.database ? undefined : env.KEYHOLE_DATABASE_FILE || undefined,
  };
  const config = loadControllerConfig(options, {});
  const store = await openStore(config.database);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function actorOf(location: StoreLocation): string {
  if (location.actor) return location.actor;
  try {
    return `local:${userInfo().username}`;
  } catch {
    // No passwd entry (a container running as an arbitrary uid).
    return `local:uid-${process.getuid?.() ?? "unknown"}`;
  }
}
