/**
 * Connecting to NATS, for the agent (`--connect`) and the controller (`--nats`), with the optional
 * credentials file (`--nats-creds`): a decentralised-auth `.creds` file (user JWT and nkey seed, as
 * `nsc` writes it) or a file holding a user's nkey seed alone (`SU…`, as `keyhole nats user` writes
 * it for a server configured with nkey users). The file is read at connect time and on every
 * reconnect, so a rotated Secret is picked up without a restart.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Authenticator,
  AuthorizationError,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import { natsUrlProblem } from "../protocol/nats.js";

export interface NatsConnectOptions {
  /** `nats://HOST:PORT` (or `tls://`); user info in the URL is refused: use a credentials file. */
  readonly url: string;
  readonly credsFile?: string | undefined;
  /** The connection's name as the server's monitoring shows it. */
  readonly name: string;
  /** Called on every status change (disconnect, reconnect, …), for the caller's log. */
  readonly onStatus?: (status: { type: string; data?: unknown }) => void;
  /** Called when a first connection attempt failed (the server is not up yet); it is retried. */
  readonly onWaiting?: (attempt: number, err: unknown) => void;
  /** Wait between reconnect attempts (default 1000 ms); attempts never stop. */
  readonly reconnectTimeWaitMs?: number;
}

/** The authenticator a credentials file calls for; throws naming the file when it holds neither kind. */
export function credentialsAuthenticator(file: string): Authenticator {
  const read = () => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(
        `cannot read the NATS credentials file ${file}: ${(err as NodeJS.ErrnoException).code}`,
      );
    }
  };
  const text = read().toString("utf8");
  if (/-----BEGIN NATS USER JWT-----/.test(text)) return credsAuthenticator(() => read());
  if (/^\s*SU[A-Z2-7]{56}\s*$/.test(text)) {
    return nkeyAuthenticator(() => new TextEncoder().encode(read().toString("utf8").trim()));
  }
  throw new Error(
    `the NATS credentials file ${file} holds neither a .creds file (user JWT and seed) nor a user nkey seed (SU…)`,
  );
}

/**
 * Connects, retrying the first connection too (a NATS server that is still starting is not a
 * configuration error: `onWaiting` hears each failed attempt), and keeps reconnecting forever after
 * a disconnect. A server that refuses the credentials is a configuration error: thrown at once.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const problem = natsUrlProblem(options.url);
  if (problem) throw new Error(`${options.url}: ${problem}`);
  const authenticator = options.credsFile ? credentialsAuthenticator(options.credsFile) : undefined;
  const waitMs = options.reconnectTimeWaitMs ?? 1000;
  let nc: NatsConnection;
  for (let attempt = 1; ; attempt++) {
    try {
      nc = await connect({
        servers: options.url,
        name: options.name,
        ...(authenticator ? { authenticator } : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: waitMs,
        // Our own messages never come back to us (a controller is no agent, an agent sends no envelopes).
        noEcho: true,
      });
      break;
    } catch (err) {
      if (err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError)
        throw new Error(
          `invalid NATS credentials: the server at ${options.url} refused them (${err.message})`,
          {
            cause: err,
          },
        );
      options.onWaiting?.(attempt, err);
      await sleep(waitMs);
    }
  }
  if (options.onStatus) {
    const onStatus = options.onStatus;
    void (async () => {
      for await (const s of nc.status()) onStatus(s as { type: string; data?: unknown });
    })().catch(() => {});
  }
  return nc;
}
