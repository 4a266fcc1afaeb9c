/**
 * Sending one envelope to an agent and classifying the answer. Never throws: every way a dispatch can
 * end becomes an outcome with a stable code, which the request records.
 */
import type { IncomingMessage } from "node:http";
import { SIGNATURE_HEADER } from "../../protocol/answer.js";
import { type AnswerOf, type ErrorBody, errorBodySchema } from "../../protocol/request.js";
import type { PinnedLookup } from "../fleet/agent-networks.js";
import type { AgentTls } from "./agent-tls.js";
import { budgetSpentMessage, type InlineLease } from "./inline-budget.js";
import {
  type AnswerHead,
  agentTimeout,
  notNamed,
  postEnvelope,
  refusalNames,
  unreachable,
} from "./post-envelope.js";

export type SendOutcome =
  | { readonly ok: true; readonly status: number; readonly result: unknown }
  | {
      readonly ok: false;
      readonly status?: number;
      readonly code: string;
      readonly message: string;
      /** The agent's own refusal and its signature (controller/dispatch/verify-answer.ts checks them). */
      readonly refusal?: ErrorBody;
      readonly signature?: string | undefined;
    };

/**
 * POSTs `jws` to `<agentUrl>/v1/requests` and reads at most `maxBytes` of JSON back within `timeoutMs`.
 * With a `lease`, every byte read is taken from the controller's inline budget first (the caller
 * releases it once the result is stored); a spent budget ends the read with `KH_BUSY`.
 * A success is kept only when its body names `expect` (`requestId` is the envelope's jti, `agent`
 * the agent's id), a refusal's code and message only when its head does (issue 23, finding 4).
 */
export async function sendEnvelope(
  agentUrl: string,
  jws: string,
  options: {
    timeoutMs: number;
    maxBytes: number;
    lease?: InlineLease;
    budgetBytes?: number;
    expect: AnswerOf;
    lookup?: PinnedLookup | undefined;
    tls?: AgentTls | undefined;
    /** How long the body may go without a byte before the read is dropped; default ANSWER_STALL_MS. */
    stallMs?: number;
  },
): Promise<SendOutcome> {
  // One deadline for connecting, the agent's work and reading the answer.
  const posted = await postEnvelope(agentUrl, jws, {
    timeoutMs: options.timeoutMs,
    headers: { accept: "application/json" },
    lookup: options.lookup,
    tls: options.tls,
  });
  if (!posted.ok) return posted;
  const { response, url } = posted;
  const status = response.statusCode ?? 0;
  let text: string;
  const stallMs = options.stallMs ?? ANSWER_STALL_MS;
  try {
    text = await readLimited(response, options.maxBytes, options.lease, stallMs);
  } catch (err) {
    if (posted.timedOut()) return agentTimeout(options.timeoutMs);
    if (err instanceof Stalled)
      return {
        ok: false,
        status,
        code: "KH_AGENT_TIMEOUT",
        message: `the agent's answer stalled: no byte for ${stallMs} ms after ${err.bytes} byte(s)`,
      };
    if (err instanceof OverBudget)
      return { ok: false, code: "KH_BUSY", message: budgetSpentMessage(options.budgetBytes ?? 0) };
    if (err instanceof TooLarge)
      return {
        ok: false,
        code: "KH_AGENT_BAD_RESPONSE",
        message: `the agent's answer exceeds ${options.maxBytes} bytes`,
      };
    return unreachable(url, err);
  } finally {
    posted.stopDeadline();
  }
  return answerOutcome(status, text, response, options.expect, "HTTP");
}

/**
 * Classifies an answer read in full, whichever transport carried it: a success is kept only when its
 * body names `expect`, a refusal's code and message only when its head does (issue 23, finding 4).
 * The one place both transports decide what an agent's answer means.
 */
export function answerOutcome(
  status: number,
  text: string,
  head: AnswerHead,
  expect: AnswerOf,
  transport: "HTTP" | "NATS",
): SendOutcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      ok: false,
      status,
      code: "KH_AGENT_BAD_RESPONSE",
      message: `the agent answered ${transport} ${status} with a body that is not JSON`,
    };
  }
  if (status >= 200 && status < 300) {
    const named = body as { requestId?: unknown; agent?: unknown } | null;
    if (
      typeof named !== "object" ||
      named === null ||
      named.requestId !== expect.jti ||
      named.agent !== expect.agent
    )
      return notNamed(expect, status);
    return { ok: true, status, result: body };
  }
  const refusal = errorBodySchema.safeParse(body);
  if (refusal.success && !refusalNames(head, expect))
    return notNamed(expect, status, refusal.data.error.code);
  if (refusal.success) {
    const { code, message } = refusal.data.error;
    return { ok: false, status, code, message, ...signedRefusal(head, code, message) };
  }
  return {
    ok: false,
    status,
    code: "KH_AGENT_BAD_RESPONSE",
    message: `the agent answered ${transport} ${status} without a coded error`,
  };
}

/** A refusal's body and the agent's signature header, for verify-answer.ts. */
export function signedRefusal(
  response: AnswerHead,
  code: string,
  message: string,
): { refusal: ErrorBody; signature: string | undefined } {
  const header = response.headers[SIGNATURE_HEADER];
  return {
    refusal: { error: { code, message } },
    signature: typeof header === "string" ? header : undefined,
  };
}

/**
 * How long an answer's body may go without a byte. An agent writes its JSON answer in one go once the
 * action is done, so a body that stops for this long is held open, and what it holds of the inline
 * budget is given back (issue 23 attack, N3).
 */
export const ANSWER_STALL_MS = 10_000;

class TooLarge extends Error {}
class OverBudget extends Error {}
class Stalled extends Error {
  constructor(readonly bytes: number) {
    super("the answer stalled");
  }
}

async function readLimited(
  response: IncomingMessage,
  maxBytes: number,
  lease: InlineLease | undefined,
  stallMs: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  // A declared length over the cap is refused at once; under it, nothing is taken from the budget
  // until bytes arrive (a declared length costs the agent nothing to claim: issue 23 attack, N3).
  const declared = Number(response.headers["content-length"]);
  if (Number.isSafeInteger(declared) && declared > maxBytes) {
    response.destroy();
    throw new TooLarge();
  }
  let stalled: Stalled | undefined;
  let timer: NodeJS.Timeout | undefined;
  const watch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = new Stalled(total);
      response.destroy(stalled);
    }, stallMs);
    timer.unref();
  };
  watch();
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      watch();
      total += chunk.length;
      // Throwing out of for-await destroys the response, so the rest is never downloaded. A body cut
      // off before its end throws here too (the response errors with ECONNRESET "aborted").
      if (total > maxBytes) throw new TooLarge();
      if (lease && !lease.take(chunk.length)) throw new OverBudget();
      chunks.push(chunk);
    }
  } catch (err) {
    throw stalled ?? err;
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
