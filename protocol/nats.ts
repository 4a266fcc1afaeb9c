/**
 * The NATS transport's contract (SPEC §8, docs/transport.md), shared by the agent and the controller:
 * which subject carries an agent's envelopes and how an answer states what the HTTP transport says
 * with its status line. The envelope and the answer's body are exactly the HTTP transport's; NATS
 * only carries them (a NATS server can delay or drop a message, never forge or replay an envelope:
 * the agent verifies each one as it does over HTTP).
 */

/** Every agent subject starts with this; an agent subscribes to its own one only. */
export const NATS_SUBJECT_PREFIX = "keyhole.agent";

/**
 * An agent id as one subject token. Agent ids are `A-Za-z0-9._/:-` (agentIdSchema); `.` separates
 * subject tokens in NATS, so it is written `~`, which no id holds: the mapping is one to one, and
 * no id can name a wildcard (`*`, `>`) or another agent's subject.
 */
export function agentSubjectToken(agentId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/:-]*$/.test(agentId) || agentId.length > 253)
    throw new Error(`"${agentId}" is not an agent id (A-Z, a-z, 0-9, ._/:-) and has no NATS subject`);
  return agentId.replaceAll(".", "~");
}

/** The subject an agent takes its envelopes from: `keyhole.agent.<id token>.requests`. */
export function agentSubject(agentId: string): string {
  return `${NATS_SUBJECT_PREFIX}.${agentSubjectToken(agentId)}.requests`;
}

/**
 * The answer's NATS header carrying what the HTTP transport's status line says (`200`, `409`, …).
 * The agent's other answer headers (`x-keyhole-request-id`, `x-keyhole-agent`, `content-type`)
 * travel as NATS headers under their HTTP names.
 */
export const NATS_STATUS_HEADER = "x-keyhole-status";

/** Why `url` cannot be a NATS server URL, or undefined. */
export function natsUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "must be a nats://HOST:PORT URL";
  }
  if (parsed.protocol !== "nats:" && parsed.protocol !== "tls:") return "must be a nats:// or tls:// URL";
  if (!parsed.hostname) return "must name a host";
  if (parsed.username || parsed.password)
    return "must carry no user or password (it would show in /proc/<pid>/cmdline): use --nats-creds";
  if ((parsed.pathname && parsed.pathname !== "/") || parsed.search || parsed.hash)
    return "must be scheme://HOST:PORT only";
  return undefined;
}
