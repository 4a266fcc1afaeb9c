/**
 * The start-up warning for dispatching in clear text beyond loopback (SPEC §8): envelopes carry
 * presigned upload URLs and answers carry masked results, which someone on the path between the
 * controller and a plain-HTTP agent reads (and can alter). Loopback stays allowed quietly: the
 * embedded default and `keyhole demo` run there.
 */
import { isLoopbackHost } from "../../common/loopback.js";
import type { AgentNetworkEntry } from "../fleet/agent-networks.js";

/** A CIDR that only holds loopback addresses (127.0.0.0/8 or narrower, ::1/128). */
function loopbackOnly(cidr: string): boolean {
  const [address = "", prefix = ""] = cidr.split("/");
  if (!isLoopbackHost(address)) return false;
  return address.includes(":") ? prefix === "128" || prefix === "" : prefix === "" || Number(prefix) >= 8;
}

/**
 * The warning to log at start, or undefined: inventory agents at an `http:` URL whose host is not
 * loopback, and — when `--agent-ca` is not set, so enrollment does not require https — environments
 * whose `--agent-networks` let agents enroll from beyond loopback.
 */
export function clearTextDispatchWarning(
  agents: Iterable<{ readonly id: string; readonly url?: string | undefined }>,
  networks: readonly AgentNetworkEntry[],
  agentCa: boolean,
): { message: string; inventoryAgents: string[]; enrollmentEnvironments: string[] } | undefined {
  const inventoryAgents: string[] = [];
  for (const agent of agents) {
    // An agent on NATS has no URL: its hop is the NATS server's (docs/transport.md).
    if (agent.url === undefined) continue;
    let url: URL;
    try {
      url = new URL(agent.url);
    } catch {
      continue;
    }
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) inventoryAgents.push(agent.id);
  }
  const enrollmentEnvironments = agentCa
    ? []
    : networks.filter((n) => n.cidrs.some((c) => !loopbackOnly(c))).map((n) => n.environment);
  if (inventoryAgents.length === 0 && enrollmentEnvironments.length === 0) return undefined;
  const parts = [
    ...(inventoryAgents.length > 0
      ? [`${inventoryAgents.length} inventory agent(s) at plain http:// URLs beyond loopback`]
      : []),
    ...(enrollmentEnvironments.length > 0
      ? [
          `agents of ${enrollmentEnvironments.join(", ")} may enroll at plain http:// URLs (--agent-networks beyond loopback, no --agent-ca)`,
        ]
      : []),
  ];
  return {
    message: `the controller dispatches in clear text beyond loopback: ${parts.join("; ")}. Envelopes (with presigned upload URLs) and masked results cross the network unencrypted and unauthenticated: serve the agents over HTTPS (--tls-cert/--tls-key) and verify them with --agent-ca (docs/operations.md, "TLS")`,
    inventoryAgents,
    enrollmentEnvironments,
  };
}
