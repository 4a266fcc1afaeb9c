/**
 * The stream output mode on the controller's side: POST the envelope, and pour a 200 answer into a
 * staged artifact write while hashing it, chunk by chunk (never the whole body in memory). The
 * object is committed only when the agent's `x-keyhole-sha256` trailer arrived and equals our own
 * digest; every other ending aborts the write. Never throws: each ending is an outcome with a code.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { SIGNATURE_HEADER } from "../../protocol/answer.js";
import {
  type AnswerOf,
  type ErrorBody,
  errorBodySchema,
  MASKED_TRAILER,
  maskCountsSchema,
  SHA256_TRAILER,
  type WireMaskCounts,
} from "../../protocol/request.js";
import type { ArtifactWrite, StoredObject } from "../artifacts/types.js";
import { ArtifactStoreError } from "../artifacts/types.js";
import type { PinnedLookup } from "../fleet/agent-networks.js";
import type { AgentTls } from "./agent-tls.js";
import { headNames, notNamed, postEnvelope, refusalNames } from "./post-envelope.js";
import { signedRefusal } from "./send-envelope.js";
import type { KeptSignature, streamCheck } from "./verify-answer.js";

export type StreamOutcome =
  | {
      readonly ok: true;
      readonly status: number;
      readonly stored: StoredObject;
      readonly sha256: string;
      readonly contentType: string;
      readonly filename: string;
      /** The agent's mask counts trailer, when it sent a valid one. */
      readonly masked: WireMaskCounts | undefined;
      /** The agent's signature, verified before the write was committed. */
      readonly signed: KeptSignature;
    }
  | {
      readonly ok: false;
      readonly status?: number;
      readonly code: string;
      readonly message: string;
      readonly refusal?: ErrorBody;
      readonly signature?: string | undefined;
    };

/** Errors of the agent's answer are small; a refusal body is read up to this. */
const MAX_ERROR_BYTES = 64 * 1024;

/**
 * Sends `jws` and streams the answer into a write from `beginWrite` (called only once the agent
 * accepted, so a refusal stages nothing). `timeoutMs` bounds the wait for the answer's head and
 * every silence between chunks after it.
 */
export async function receiveStream(
  agentUrl: string,
  jws: string,
  beginWrite: (meta: { contentType: string; filename: string }) => Promise<ArtifactWrite>,
  options: {
    timeoutMs: number;
    expect: AnswerOf;
    lookup?: PinnedLookup | undefined;
    /** The agent's signature check (verify-answer.ts), run before the write is committed. */
    check: ReturnType<typeof streamCheck>;
    tls?: AgentTls | undefined;
  },
): Promise<StreamOutcome> {
  // Asks for the digest trailer (RFC 9110 §10.1.4); the agent sends it either way.
  const posted = await postEnvelope(agentUrl, jws, {
    timeoutMs: options.timeoutMs,
    headers: { te: "trailers" },
    lookup: options.lookup,
    tls: options.tls,
  });
  if (!posted.ok) return posted;
  // The deadline covered the head; the body is bounded by idle time below.
  posted.stopDeadline();
  const { response } = posted;
  const status = response.statusCode ?? 0;
  // Only the agent's answer to this envelope is stored or reported (issue 23, finding 4).
  if (status !== 200)
    return refusal(response, status, refusalNames(response, options.expect) ? undefined : options.expect);
  if (!headNames(response, options.expect)) {
    response.destroy();
    return notNamed(options.expect, status);
  }

  const contentType = response.headers["content-type"] ?? "application/octet-stream";
  const filename = filenameOf(response.headers["content-disposition"]) ?? "artifact.bin";
  let write: ArtifactWrite;
  try {
    write = await beginWrite({ contentType, filename });
  } catch (err) {
    response.destroy();
    return storeFailure(err, status);
  }
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    // Idle timeout: a stalled agent ends the transfer instead of holding it open forever.
    response.setTimeout(options.timeoutMs, () =>
      response.destroy(Object.assign(new Error("idle"), { name: "TimeoutError" })),
    );
    bytes = await pour(response, (chunk) => {
      hash.update(chunk);
      return write.write(chunk);
    });
  } catch (err) {
    response.destroy();
    await write.abort().catch(() => {});
    if (err instanceof ArtifactStoreError) return storeFailure(err, status);
    if ((err as Error).name === "TimeoutError")
      return {
        ok: false,
        status,
        code: "KH_AGENT_TIMEOUT",
        message: `the agent's stream stalled for ${options.timeoutMs} ms after ${bytes} bytes`,
      };
    return broken(status, bytes, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  const ours = hash.digest("hex");
  const theirs = response.trailers[SHA256_TRAILER];
  if (!response.complete || !theirs) {
    await write.abort().catch(() => {});
    return broken(status, bytes, "no digest trailer");
  }
  if (theirs !== ours) {
    await write.abort().catch(() => {});
    return {
      ok: false,
      status,
      code: "KH_ARTIFACT_DIGEST_MISMATCH",
      message: `the agent's digest ${theirs.slice(0, 64)} does not match the ${bytes} bytes received (sha256 ${ours})`,
    };
  }
  // Nothing is committed that the agent did not sign (issue 21).
  const masked = maskCountsTrailer(response);
  const signature = response.trailers[SIGNATURE_HEADER];
  const checked = options.check({ sha256: ours, bytes, masked, signature: signature || undefined });
  if (!("signed" in checked)) {
    await write.abort().catch(() => {});
    return { ...checked, status };
  }
  try {
    const stored = await write.commit();
    return {
      ok: true,
      status,
      stored,
      sha256: ours,
      contentType,
      filename,
      masked,
      signed: checked.signed,
    };
  } catch (err) {
    return storeFailure(err, status);
  }
}

/** The `x-keyhole-masked` trailer, parsed; anything malformed is left out rather than trusted. */
function maskCountsTrailer(response: IncomingMessage): WireMaskCounts | undefined {
  const raw = response.trailers[MASKED_TRAILER];
  if (!raw || raw.length > 16 * 1024) return undefined;
  try {
    const parsed = maskCountsSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Feeds every chunk of `response` to `sink` and resolves with the byte count at its end. A sink that
 * answers a promise pauses the response until it settles (backpressure reaches the agent through
 * TCP); the fast path costs no promise per chunk. Rejects on a broken response or a failing sink.
 */
function pour(
  response: IncomingMessage,
  sink: (chunk: Buffer) => undefined | Promise<void>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let failed = false;
    let pending: undefined | Promise<void>;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      response.off("data", onData);
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      try {
        pending = sink(chunk);
      } catch (err) {
        fail(err);
        return;
      }
      if (pending) {
        response.pause();
        pending.then(() => {
          pending = undefined;
          if (!failed) response.resume();
        }, fail);
      }
    };
    response.on("data", onData);
    response.once("error", fail);
    // "aborted"/"close" without "end": the agent went away mid-stream.
    response.once("close", () => {
      if (!response.complete) fail(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
    });
    // The last chunk's write may still be waiting for room.
    response.once("end", () => {
      Promise.resolve(pending).then(() => {
        if (!failed) resolve(bytes);
      }, fail);
    });
  });
}

/** A non-200 answer: the agent's coded refusal, or a bad response. */
async function refusal(
  response: IncomingMessage,
  status: number,
  unnamed?: AnswerOf,
): Promise<StreamOutcome> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_ERROR_BYTES) break;
      chunks.push(chunk);
    }
  } catch {
    // a broken refusal is still a refusal
  }
  response.destroy();
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    if (parsed.success && unnamed) return notNamed(unnamed, status, parsed.data.error.code);
    if (parsed.success) {
      const { code, message } = parsed.data.error;
      return { ok: false, status, code, message, ...signedRefusal(response, code, message) };
    }
  } catch {
    // not JSON
  }
  return {
    ok: false,
    status,
    code: "KH_AGENT_BAD_RESPONSE",
    message: `the agent answered HTTP ${status} without a coded error`,
  };
}

function broken(status: number, bytes: number, why: string): StreamOutcome {
  return {
    ok: false,
    status,
    code: "KH_AGENT_STREAM_BROKEN",
    message: `the agent's stream broke after ${bytes} bytes (${why}); nothing was stored`,
  };
}

function storeFailure(err: unknown, status: number): StreamOutcome {
  if (err instanceof ArtifactStoreError) return { ok: false, status, code: err.code, message: err.message };
  return { ok: false, status, code: "KH_ARTIFACT_STORE_FAILED", message: (err as Error).message };
}

/** The `filename` of `attachment; filename="…"`, reduced to safe characters. */
function filenameOf(disposition: string | undefined): string | undefined {
  const name = /filename="([^"]{1,200})"/.exec(disposition ?? "")?.[1];
  return name?.replace(/[^A-Za-z0-9._-]/g, "_");
}
