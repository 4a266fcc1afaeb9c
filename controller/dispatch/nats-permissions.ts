/**
 * The NATS server-side permissions of keyhole's connections (docs/transport.md), as `keyhole nats
 * permissions` prints them: an agent may subscribe to its own subject and answer the messages it
 * receives (`allow_responses`: only on their reply subjects, once each), and publish nothing else;
 * a controller may publish envelopes to agents' subjects and receive answers on its inbox.
 */
import { agentSubject, NATS_SUBJECT_PREFIX } from "../../protocol/nats.js";

/** How long an agent may take to answer one message (its reply subject stays writable that long). */
export const AGENT_RESPONSE_WINDOW = "15m";

export interface NatsPermissions {
  readonly publish: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  readonly subscribe: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  readonly allow_responses?: { readonly max: number; readonly expires: string };
}

/** An agent's permissions: its own subject, its answers, nothing else. */
export function agentPermissions(agentId: string): NatsPermissions {
  return {
    publish: { deny: [">"] },
    subscribe: { allow: [agentSubject(agentId)] },
    allow_responses: { max: 1, expires: AGENT_RESPONSE_WINDOW },
  };
}

/** A controller replica's permissions: envelopes out to any agent's subject, answers in on its inbox. */
export function controllerPermissions(): NatsPermissions {
  return {
    publish: { allow: [`${NATS_SUBJECT_PREFIX}.*.requests`] },
    subscribe: { allow: ["_INBOX.>"] },
  };
}

/**
 * One `authorization.users` entry in nats-server's configuration syntax (JSON is part of it), with
 * `identity` as the entry's `nkey` (a user's public nkey, `U…`) when given.
 */
export function natsUserEntry(permissions: NatsPermissions, comment: string, nkey?: string): string {
  const body = JSON.stringify({ ...(nkey ? { nkey } : {}), permissions }, null, 2);
  return `# ${comment}\n${body}\n`;
}

/** The same permissions as `nsc add user` flags, for an operator/JWT (decentralised) setup. */
export function nscFlags(permissions: NatsPermissions): string[] {
  const flags: string[] = [];
  for (const s of permissions.publish.allow ?? []) flags.push(`--allow-pub '${s}'`);
  for (const s of permissions.publish.deny ?? []) flags.push(`--deny-pub '${s}'`);
  for (const s of permissions.subscribe.allow ?? []) flags.push(`--allow-sub '${s}'`);
  for (const s of permissions.subscribe.deny ?? []) flags.push(`--deny-sub '${s}'`);
  if (permissions.allow_responses)
    flags.push(
      `--allow-pub-response ${permissions.allow_responses.max}`,
      `--response-ttl ${permissions.allow_responses.expires}`,
    );
  return flags;
}
