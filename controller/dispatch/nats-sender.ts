/**
 * Sending one envelope to an agent over NATS (docs/transport.md): a request on the agent's own
 * subject, the answer on this controller's inbox. No routing between controller replicas is needed:
 * each replica gets the answers to its own requests, whichever replica the agent's connection sits
 * behind. The answer is classified by the same code as an HTTP answer (send-envelope.ts).
 *
 * A NATS request is sent once and never again (the dispatcher marked the request dispatched first):
 * an agent that is not subscribed is answered "no responders" by the server (KH_AGENT_UNREACHABLE),
 * an answer that does not come within the deadline is KH_AGENT_TIMEOUT.
 */
import { type NatsConnection, RequestError, TimeoutError } from "@nats-io/transport-node";
import type { FastifyBaseLogger } from "fastify";
import { connectNats } from "../../common/nats-connect.js";
import { agentSubject, NATS_STATUS_HEADER } from "../../protocol/nats.js";
import { AGENT_HEADER, type AnswerOf, REQUEST_ID_HEADER } from "../../protocol/request.js";
import { budgetSpentMessage, type InlineLease } from "./inline-budget.js";
import { agentTimeout } from "./post-envelope.js";
import { answerOutcome, type SendOutcome } from "./send-envelope.js";

export interface NatsSendOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly lease?: InlineLease | undefined;
  readonly budgetBytes?: number | undefined;
  readonly expect: AnswerOf;
}

export class NatsSender {
  private constructor(
    private readonly nc: NatsConnection,
    /** The server's URL without credentials, for records and messages. */
    readonly server: string,
  ) {}

  /** Connects (waiting for a server that is still starting) and keeps reconnecting. */
  static async connect(options: {
    url: string;
    credsFile?: string | undefined;
    controllerId: string;
    log: FastifyBaseLogger;
  }): Promise<NatsSender> {
    const nc = await connectNats({
      url: options.url,
      credsFile: options.credsFile,
      name: `keyhole-controller ${options.controllerId}`,
      // Logged once, then every 30th attempt: a server still starting is routine.
      onWaiting: (attempt, err) => {
        if (attempt === 1 || attempt % 30 === 0)
          options.log.warn({ attempt, err: (err as Error).message }, "waiting for the NATS server");
      },
      onStatus: (s) => {
        if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error")
          options.log.info({ nats: s.type, server: String(s.data ?? "") }, `nats ${s.type}`);
      },
    });
    return new NatsSender(nc, options.url);
  }

  /** Publishes `jws` to the agent's subject and classifies its answer. Never throws. */
  async send(agentId: string, jws: string, options: NatsSendOptions): Promise<SendOutcome> {
    const subject = agentSubject(agentId);
    let data: Uint8Array;
    let status: number;
    let head: Record<string, string | undefined>;
    try {
      const msg = await this.nc.request(subject, jws, { timeout: options.timeoutMs });
      data = msg.data;
      const h = msg.headers;
      status = Number(h?.get(NATS_STATUS_HEADER) || 0);
      head = {
        [REQUEST_ID_HEADER]: h?.get(REQUEST_ID_HEADER) || undefined,
        [AGENT_HEADER]: h?.get(AGENT_HEADER) || undefined,
      };
    } catch (err) {
      return this.failed(subject, err, options.timeoutMs);
    }
    if (data.length > options.maxBytes)
      return {
        ok: false,
        code: "KH_AGENT_BAD_RESPONSE",
        message: `the agent's answer exceeds ${options.maxBytes} bytes`,
      };
    if (options.lease && !options.lease.take(data.length))
      return { ok: false, code: "KH_BUSY", message: budgetSpentMessage(options.budgetBytes ?? 0) };
    if (!Number.isInteger(status) || status < 100 || status > 599)
      return {
        ok: false,
        code: "KH_AGENT_BAD_RESPONSE",
        message: `the answer on ${subject} carries no ${NATS_STATUS_HEADER} status; it is not an agent's answer`,
      };
    return answerOutcome(
      status,
      Buffer.from(data).toString("utf8"),
      { headers: head },
      options.expect,
      "NATS",
    );
  }

  private failed(subject: string, err: unknown, timeoutMs: number): SendOutcome {
    const cause = err instanceof RequestError ? err : undefined;
    if (cause?.isNoResponders())
      return {
        ok: false,
        code: "KH_AGENT_UNREACHABLE",
        message: `no agent is subscribed to ${subject} on ${this.server} (the agent is not connected); nothing was delivered`,
      };
    if (err instanceof TimeoutError || (err as Error | undefined)?.cause instanceof TimeoutError)
      return agentTimeout(timeoutMs);
    return {
      ok: false,
      code: "KH_AGENT_UNREACHABLE",
      message: `cannot send to ${subject} on ${this.server}: ${(err as Error).message}`,
    };
  }

  /** Waits for answers in flight, then closes the connection. */
  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
