/**
 * Sending one envelope to an agent and classifying the answer. Never throws: every way a dispatch can
 * end becomes an outcome with a stable code, which the request records.
 */
import { errorBodySchema, REQUEST_CONTENT_TYPE, REQUESTS_PATH } from "../../agent/protocol.js";

export type SendOutcome =
  | { readonly ok: true; readonly status: number; readonly result: unknown }
  | { readonly ok: false; readonly status?: number; readonly code: string; readonly message: string };

class TooLarge extends Error {}

/** POSTs `jws` to `<agentUrl>/v1/requests` and reads at most `maxBytes` of JSON back within `timeoutMs`. */
export async function sendEnvelope(
  agentUrl: string,
  jws: string,
  options: { timeoutMs: number; maxBytes: number },
): Promise<SendOutcome> {
  const url = new URL(agentUrl);
  // The base may carry a path prefix (a proxy in front of the agent); keep it.
  url.pathname = `${url.pathname.replace(/\/$/, "")}${REQUESTS_PATH}`;
  // One deadline for connecting, the agent's work and reading the answer.
  const signal = AbortSignal.timeout(options.timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": REQUEST_CONTENT_TYPE, accept: "application/json" },
      body: jws,
      signal,
      redirect: "error",
    });
    text = await readLimited(response, options.maxBytes);
  } catch (err) {
    if (signal.aborted) {
      return {
        ok: false,
        code: "KH_AGENT_TIMEOUT",
        message: `the agent did not answer within ${options.timeoutMs} ms`,
      };
    }
    if (err instanceof TooLarge) {
      return {
        ok: false,
        code: "KH_AGENT_BAD_RESPONSE",
        message: `the agent's answer exceeds ${options.maxBytes} bytes`,
      };
    }
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return {
      ok: false,
      code: "KH_AGENT_UNREACHABLE",
      message: `cannot reach the agent at ${url.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      ok: false,
      status: response.status,
      code: "KH_AGENT_BAD_RESPONSE",
      message: `the agent answered HTTP ${response.status} with a body that is not JSON`,
    };
  }
  if (response.ok) return { ok: true, status: response.status, result: body };
  const refusal = errorBodySchema.safeParse(body);
  if (refusal.success) {
    return {
      ok: false,
      status: response.status,
      code: refusal.data.error.code,
      message: refusal.data.error.message,
    };
  }
  return {
    ok: false,
    status: response.status,
    code: "KH_AGENT_BAD_RESPONSE",
    message: `the agent answered HTTP ${response.status} without a coded error`,
  };
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    // Throwing out of for-await cancels the stream, so the rest is never downloaded.
    if (total > maxBytes) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
