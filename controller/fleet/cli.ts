/**
 * Enrollment-token administration without a running controller, like `keyhole token issue`: open the
 * store on the data dir (or database), act, write the audit record, close.
 */
import { userInfo } from "node:os";
import { publicKeySchema } from "../../protocol/answer.js";
import { type ControllerOptions, loadControllerConfig } from "../config.js";
import { parseDurationSeconds } from "../duration.js";
import { ConfigError, ControllerError } from "../errors.js";
import type { StoreLocation } from "../identity/cli.js";
import { environmentNameSchema } from "../policy/schema.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/types.js";
import { DEFAULT_ENROLL_TOKEN_TTL_SECONDS, mintEnrollToken } from "./credentials.js";

export interface IssuedEnrollToken {
  readonly id: string;
  /** Shown once, stored nowhere. */
  readonly token: string;
  readonly environment: string;
  readonly expiresAt: string;
}

export interface EnrollTokenView {
  readonly id: string;
  readonly environment: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly revokedAt?: string;
}

/** Issues an enrollment token for one environment; `ttl` as `30d`, `8h`, seconds (default 365d). */
export async function issueEnrollToken(
  options: StoreLocation & { environment: string; ttl?: string | number },
): Promise<IssuedEnrollToken> {
  const problems: string[] = [];
  if (!environmentNameSchema.safeParse(options.environment).success)
    problems.push(`environment: "${options.environment}" must be a lowercase DNS label (a-z, 0-9, -)`);
  let ttlSeconds = DEFAULT_ENROLL_TOKEN_TTL_SECONDS;
  try {
    if (options.ttl !== undefined) ttlSeconds = parseDurationSeconds(String(options.ttl), 5 * 365 * 86_400);
  } catch (err) {
    problems.push(`ttl: ${(err as Error).message}`);
  }
  if (problems.length > 0) throw new ConfigError("invalid enrollment token", problems);
  return withStore(options, async (store) => {
    const now = Date.now();
    const createdBy = actorOf(options);
    const { token, record } = mintEnrollToken(
      { environment: options.environment, ttlSeconds, createdBy },
      now,
    );
    await store.fleet.insertEnrollToken(
      record,
      {
        actor: createdBy,
        event: "enroll-token.issued",
        details: {
          enrollTokenId: record.id,
          environment: record.environment,
          expiresAt: new Date(record.expiresAt).toISOString(),
          // What the controller checks the row against before it enrolls (issue 23 attack, N4).
          secretHash: record.secretHash,
        },
      },
      now,
    );
    return {
      id: record.id,
      token,
      environment: record.environment,
      expiresAt: new Date(record.expiresAt).toISOString(),
    };
  });
}

/**
 * Revokes an enrollment token: no new enrollment with it, and the agents it enrolled are refused at
 * their next heartbeat and stop being targets. Revoking twice is not an error.
 */
export async function revokeEnrollToken(
  options: StoreLocation & { id: string },
): Promise<{ id: string; revokedAt: string }> {
  return withStore(options, async (store) => {
    const now = Date.now();
    const outcome = await store.fleet.revokeEnrollToken(options.id, now, {
      actor: actorOf(options),
      event: "enroll-token.revoked",
      details: { enrollTokenId: options.id },
    });
    if (outcome.kind === "not-found")
      throw new ControllerError("KH_NOT_FOUND", `no enrollment token with id "${options.id}"`);
    return { id: options.id, revokedAt: new Date(outcome.token.revokedAt ?? now).toISOString() };
  });
}

/** Every enrollment token (never their secrets). */
export async function listEnrollTokens(options: StoreLocation): Promise<EnrollTokenView[]> {
  return withStore(options, async (store) =>
    (await store.fleet.listEnrollTokens()).map((t) => ({
      id: t.id,
      environment: t.environment,
      createdBy: t.createdBy,
      createdAt: new Date(t.createdAt).toISOString(),
      expiresAt: new Date(t.expiresAt).toISOString(),
      ...(t.revokedAt === undefined ? {} : { revokedAt: new Date(t.revokedAt).toISOString() }),
    })),
  );
}

/** How long a rotation allowance lasts unless `--ttl` says otherwise. */
export const DEFAULT_ROTATION_TTL_SECONDS = 3600;

/**
 * Lets an enrolled agent re-enroll once with another key (issue 21): within `ttl` (default 1h), and
 * only with `publicKey` when given. The allowance is audited (`agent.rotation-allowed`) and used up by
 * the re-enrollment it allows (`agent.enrolled` then carries `rotated`).
 */
export async function allowKeyRotation(
  options: StoreLocation & { id: string; publicKey?: string | undefined; ttl?: string | number },
): Promise<{ id: string; until: string; publicKey?: string; currentKey?: string }> {
  const problems: string[] = [];
  let ttlSeconds = DEFAULT_ROTATION_TTL_SECONDS;
  try {
    if (options.ttl !== undefined) ttlSeconds = parseDurationSeconds(String(options.ttl), 30 * 86_400);
  } catch (err) {
    problems.push(`ttl: ${(err as Error).message}`);
  }
  if (options.publicKey !== undefined && !publicKeySchema.safeParse(options.publicKey).success)
    problems.push("public-key: must be an Ed25519 public key, 32 bytes in base64url (43 characters)");
  if (problems.length > 0) throw new ConfigError("invalid key rotation", problems);
  return withStore(options, async (store) => {
    const now = Date.now();
    const allowedBy = actorOf(options);
    const agent = await store.fleet.getEnrolledAgent(options.id);
    if (!agent) throw new ControllerError("KH_NOT_FOUND", `no enrolled agent with id "${options.id}"`);
    const until = now + ttlSeconds * 1000;
    const rotation = { until, allowedBy, ...(options.publicKey ? { publicKey: options.publicKey } : {}) };
    await store.fleet.setKeyRotation(
      options.id,
      rotation,
      [
        {
          actor: allowedBy,
          event: "agent.rotation-allowed",
          details: {
            agent: options.id,
            until: new Date(until).toISOString(),
            currentKey: agent.publicKey ?? null,
            publicKey: options.publicKey ?? "any",
          },
        },
      ],
      now,
    );
    return {
      id: options.id,
      until: new Date(until).toISOString(),
      ...(options.publicKey ? { publicKey: options.publicKey } : {}),
      ...(agent.publicKey ? { currentKey: agent.publicKey } : {}),
    };
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
    return `local:uid-${process.getuid?.() ?? "unknown"}`;
  }
}
