/**
 * The NATS transport (SPEC §8, docs/transport.md): the agent dials out to a NATS server, subscribes
 * to its own subject and answers each envelope on the message's reply subject. It opens no listening
 * socket. Each envelope goes through the very route the HTTP transport serves (`app.inject()` on
 * `POST /v1/requests`: the same size limit, verification, replay cache, action runner and answer
 * body), so the two transports cannot drift apart; what the HTTP status line says travels in the
 * `x-keyhole-status` header.
 *
 * NATS core is at most once: a message published while the agent is disconnected is dropped (the
 * controller records KH_AGENT_UNREACHABLE or KH_AGENT_TIMEOUT) and is never delivered twice by the
 * server; an envelope a server or another client publishes again is refused by the replay cache.
 */

import {
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import type pino from "pino";
import { connectNats } from "../../common/nats-connect.js";
import { SIGNATURE_HEADER } from "../../protocol/answer.js";
import { agentSubject, NATS_STATUS_HEADER } from "../../protocol/nats.js";
import {
  AGENT_HEADER,
  REQUEST_CONTENT_TYPE,
  REQUEST_ID_HEADER,
  REQUESTS_PATH,
} from "../../protocol/request.js";
import type { AnswerSigner } from "../answer-signer.js";
import { AgentError } from "../errors.js";
import type { AgentTransport } from "./types.js";

export interface NatsTransportOptions {
  readonly url: string;
  readonly credsFile?: string | undefined;
  readonly agentId: string;
  readonly log: pino.Logger;
  readonly reconnectTimeWaitMs?: number;
  /**
   * Signs the refusals this transport writes itself (an answer too large for the server), as the
   * HTTP face signs its own (issue 21); the answers `app` writes are signed already.
   */
  readonly signer?: AnswerSigner | undefined;
}

/** Room left in a message for the answer's headers (status, jti, agent id, content type). */
const ANSWER_HEADROOM_BYTES = 1024;

/** Headers of the agent's answer that travel with it (the rest are HTTP's own). */
const ANSWER_HEADERS = [REQUEST_ID_HEADER, AGENT_HEADER, SIGNATURE_HEADER, "content-type"] as const;

/** Connects, subscribes to the agent's subject and serves envelopes with `app` (never listening). */
export async function serveOverNats(
  app: FastifyInstance,
  options: NatsTransportOptions,
): Promise<AgentTransport> {
  const { log } = options;
  const subject = agentSubject(options.agentId);
  await app.ready();
  const nc: NatsConnection = await connectNats({
    url: options.url,
    credsFile: options.credsFile,
    name: `keyhole-agent ${options.agentId}`,
    ...(options.reconnectTimeWaitMs ? { reconnectTimeWaitMs: options.reconnectTimeWaitMs } : {}),
    // Logged once, then every 30th attempt: a server still starting is routine.
    onWaiting: (attempt, err) => {
      if (attempt === 1 || attempt % 30 === 0)
        log.warn({ attempt, err: (err as Error).message }, "waiting for the NATS server");
    },
    onStatus: (s) => {
      // Reconnects are routine (a NATS server restarts); say so once each, without the noise.
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error")
        log.info({ nats: s.type, server: String(s.data ?? "") }, `nats ${s.type}`);
    },
  });
  const inflight = new Set<Promise<void>>();
  // A queue group: were two agents ever subscribed under one id (a Secret shared by two pods), each
  // envelope still reaches only one of them.
  const sub: Subscription = nc.subscribe(subject, {
    queue: "keyhole-agent",
    callback: (err, msg) => {
      if (err) {
        // A permissions error or a slow-consumer notice: the server says so, nothing was received.
        log.error({ err }, "nats subscription error");
        return;
      }
      const run = answer(app, nc, msg, options).finally(() => inflight.delete(run));
      inflight.add(run);
    },
  });
  // The subscription is registered with the server before we say we are ready; a server that
  // refuses it (these credentials are another agent's) answers before the flush's PONG.
  await nc.flush();
  if (sub.isClosed()) {
    const why = await sub.closed;
    await nc.close();
    throw new Error(
      `invalid NATS credentials: the server refused the subscription to ${subject} (${why instanceof Error ? why.message : "closed"}); keyhole nats permissions --agent ${options.agentId} prints what this agent's user needs`,
    );
  }
  const address = `${options.url.replace(/\/$/, "")}/${subject}`;
  let closing: Promise<void> | undefined;
  return {
    address,
    close: (graceMs: number) => {
      closing ??= (async () => {
        // No new envelopes; those in flight get the grace period to be answered.
        sub.unsubscribe();
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
          timer.unref();
        });
        await Promise.race([Promise.all([...inflight]), graceOver]);
        clearTimeout(timer);
        if (inflight.size > 0)
          log.warn({ inFlight: inflight.size }, "shutdown grace period over; answers still pending are lost");
        await nc.drain().catch(() => nc.close());
      })();
      return closing;
    },
  };
}

/** Runs one message through the agent's request route and answers on its reply subject. */
async function answer(
  app: FastifyInstance,
  nc: NatsConnection,
  msg: Msg,
  options: NatsTransportOptions,
): Promise<void> {
  const { log } = options;
  if (!msg.reply) {
    // Nobody could receive the answer: run nothing (a signed envelope is still only run when asked).
    log.warn({ bytes: msg.data.length }, "a message without a reply subject was dropped unread");
    return;
  }
  let status: number;
  let head: Record<string, string | string[] | number | undefined>;
  let body: Uint8Array;
  try {
    const res = await app.inject({
      method: "POST",
      url: REQUESTS_PATH,
      headers: { "content-type": REQUEST_CONTENT_TYPE },
      payload: Buffer.from(msg.data),
    });
    status = res.statusCode;
    head = res.headers;
    body = res.rawPayload;
  } catch (err) {
    log.error({ err }, "internal error");
    const coded = new AgentError("KH_INTERNAL", "internal error");
    status = coded.status;
    head = { "content-type": "application/json" };
    body = Buffer.from(JSON.stringify(coded.toBody()));
  }
  // The server refuses messages above its max_payload: answer a coded refusal instead of nothing.
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  if (body.length > maxPayload - ANSWER_HEADROOM_BYTES) {
    const coded = new AgentError(
      "KH_TOO_LARGE",
      `the answer (${body.length} bytes) exceeds what the NATS server carries (max_payload ${maxPayload}); use the s3 output for large results`,
    );
    status = coded.status;
    const refusal = coded.toBody();
    const jti = head[REQUEST_ID_HEADER];
    head = { ...head, "content-type": "application/json", [SIGNATURE_HEADER]: undefined };
    if (typeof jti === "string" && options.signer)
      head[SIGNATURE_HEADER] = options.signer.refusal(jti, options.agentId, refusal);
    body = Buffer.from(JSON.stringify(refusal));
  }
  const h = natsHeaders();
  h.set(NATS_STATUS_HEADER, String(status));
  for (const name of ANSWER_HEADERS) {
    const value = head[name];
    if (typeof value === "string") h.set(name, value);
  }
  try {
    msg.respond(body, { headers: h });
  } catch (err) {
    // The connection is closed or draining: the controller records a timeout for this request.
    log.warn({ err }, "cannot send the answer over nats");
  }
}
