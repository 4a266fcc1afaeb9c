/**
 * The one seam between dispatch (requests, collections) and the transports (SPEC §8): how the
 * controller hands one signed envelope to one agent and gets its answer back, over HTTP at the
 * agent's URL or over NATS on the agent's subject. Whatever the transport, the envelope is the same
 * and the answer is classified by the same code (send-envelope.ts's answerOutcome), so an agent's
 * answer is checked in one place.
 */
import { agentSubject } from "../../protocol/nats.js";
import type { AnswerOf } from "../../protocol/request.js";
import type { InventoryAgent } from "../inventory/load-inventory.js";
import type { AgentTls } from "./agent-tls.js";
import type { InlineLease } from "./inline-budget.js";
import type { NatsSender } from "./nats-sender.js";
import { type SendOutcome, sendEnvelope } from "./send-envelope.js";

export interface AgentSendOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly lease?: InlineLease | undefined;
  readonly budgetBytes?: number | undefined;
  readonly expect: AnswerOf;
}

/** Where an envelope went, for the `request.dispatched` record: never credentials. */
export type AgentAddress =
  | { readonly url: string }
  | { readonly transport: "nats"; readonly subject: string; readonly server?: string };

export class AgentTransports {
  /**
   * @param nats the controller's NATS connection (`--nats`), absent when it runs without one
   * @param tls how HTTP connections to agents are secured (agent-tls.ts: `--agent-ca`, client certificate)
   */
  constructor(
    private readonly nats?: NatsSender,
    readonly tls?: AgentTls,
  ) {}

  /** Sends `jws` to `agent` and classifies its JSON answer (inline and s3 modes). Never throws. */
  send(agent: InventoryAgent, jws: string, options: AgentSendOptions): Promise<SendOutcome> {
    if (agent.transport === "nats") {
      if (!this.nats) return Promise.resolve(noNats(agent.id));
      return this.nats.send(agent.id, jws, options);
    }
    if (agent.url === undefined)
      return Promise.resolve({
        ok: false,
        code: "KH_DISPATCH_FAILED",
        message: `agent "${agent.id}" has no URL`,
      });
    return sendEnvelope(agent.url, jws, { ...options, lookup: agent.lookup, tls: this.tls });
  }

  /**
   * Why the stream output mode cannot reach `agent`, or undefined. A NATS message is bounded (1 MiB
   * by default), and a pod on NATS opens no port: its large results leave through the s3 mode's
   * presigned upload instead (docs/transport.md).
   */
  streamProblem(agent: InventoryAgent): string | undefined {
    if (agent.transport !== "nats") return undefined;
    return `agent "${agent.id}" is on NATS, which carries no streamed results: ask for the s3 output (the agent uploads to presigned URLs)`;
  }

  /** Where an envelope for `agent` goes, for the audit trail. */
  address(agent: InventoryAgent, auditableUrl: (url: string) => string): AgentAddress {
    if (agent.transport === "nats")
      return {
        transport: "nats",
        subject: agentSubject(agent.id),
        ...(this.nats ? { server: this.nats.server } : {}),
      };
    return { url: agent.url === undefined ? "(none)" : auditableUrl(agent.url) };
  }

  async close(): Promise<void> {
    await this.nats?.close();
  }
}

function noNats(agentId: string): SendOutcome {
  return {
    ok: false,
    code: "KH_AGENT_UNREACHABLE",
    message: `agent "${agentId}" is on NATS, and this controller runs without --nats; nothing was sent`,
  };
}
