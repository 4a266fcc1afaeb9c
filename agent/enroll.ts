/**
 * Enrollment (docs/fleet.md): the agent registers itself with the controller using its enrollment
 * token, then beats with the session the controller answered. Outbound HTTP only, to the one URL the
 * operator configured; nothing the controller answers can make the agent run anything.
 *
 * The first attempt decides start-up: a refusal (bad or revoked token, wrong environment) stops the
 * agent with a configuration error; an unreachable controller or a taken id (an old pod still marked
 * online) is retried in the background with backoff. A heartbeat answered 401 (session unknown, e.g.
 * the controller's database was replaced, or the token revoked) makes the agent enroll again.
 */
import { sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import type pino from "pino";
import {
  ENROLL_PATH,
  type EnrollRequest,
  enrollProofInput,
  enrollResponseSchema,
  HEARTBEAT_PATH,
  heartbeatResponseSchema,
} from "../protocol/fleet.js";
import type { AgentIdentity } from "./identity.js";

export interface EnrollmentOptions {
  /** The controller's base URL. */
  readonly controller: string;
  readonly token: string;
  /** What to register; the public key and its proof are added from `identity` on every attempt. */
  readonly request: Omit<EnrollRequest, "publicKey" | "proof">;
  /** The agent's own key: the controller pins its public half (issue 21). */
  readonly identity: AgentIdentity;
  /**
   * A PEM CA bundle file the controller's HTTPS certificate must verify against (default: the
   * system's roots). Read at every attempt, so a rotated CA is taken up without a restart.
   */
  readonly controllerCa?: string;
  readonly log: pino.Logger;
  /** Backoff bounds between failed attempts (defaults 1 s and 30 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export interface Enrollment {
  /** Stops beating (the controller marks the agent offline once it stops hearing from it). */
  stop(): Promise<void>;
}

/** A refusal that retrying with the same configuration cannot fix. */
export class EnrollmentRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "EnrollmentRefused";
  }
}

type Attempt =
  | { readonly kind: "ok"; readonly session: string; readonly heartbeatSeconds: number }
  | { readonly kind: "refused"; readonly code: string; readonly message: string }
  | { readonly kind: "retry"; readonly message: string };

const TIMEOUT_MS = 10_000;

/**
 * One JSON POST. node:http(s) rather than fetch: fetch cannot be given a CA of its own short of
 * changing the process's defaults.
 */
function post(
  url: string,
  bearer: string,
  body: unknown,
  controllerCa: string | undefined,
): Promise<{ status: number; json: unknown }> {
  const payload = JSON.stringify(body);
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, {
      method: "POST",
      headers: {
        authorization: `Bearer ${bearer}`,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(payload),
      },
      ...(target.protocol === "https:" && controllerCa ? { ca: readFileSync(controllerCa) } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    request.once("error", reject);
    request.once("response", (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        // An enrollment answer is a few hundred bytes.
        if (size > 64 * 1024) response.destroy(new Error("the controller's answer is too large"));
        else chunks.push(chunk);
      });
      response.once("error", reject);
      response.once("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, json });
      });
    });
    request.end(payload);
  });
}

function errorOf(json: unknown, status: number): { code: string; message: string } {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return {
    code: typeof error?.code === "string" ? error.code : `HTTP_${status}`,
    message: typeof error?.message === "string" ? error.message : `HTTP ${status}`,
  };
}

/** The enrollment body: the request, the agent's public key and a fresh proof that it holds the key. */
export function signedEnrollRequest(
  request: Omit<EnrollRequest, "publicKey" | "proof">,
  identity: AgentIdentity,
  now = Date.now(),
): EnrollRequest {
  const body = { ...request, publicKey: identity.jwk.x };
  const iat = Math.floor(now / 1000);
  const signature = sign(null, enrollProofInput(body, iat), identity.privateKey).toString("base64url");
  return { ...body, proof: { iat, signature } };
}

async function enrollOnce(options: EnrollmentOptions): Promise<Attempt> {
  let answer: { status: number; json: unknown };
  try {
    answer = await post(
      new URL(ENROLL_PATH, options.controller).href,
      options.token,
      signedEnrollRequest(options.request, options.identity),
      options.controllerCa,
    );
  } catch (err) {
    const cause =
      (err as NodeJS.ErrnoException).code ??
      (err as { cause?: { code?: string } }).cause?.code ??
      (err as Error).message;
    return { kind: "retry", message: `cannot reach the controller at ${options.controller}: ${cause}` };
  }
  if (answer.status === 201) {
    const parsed = enrollResponseSchema.safeParse(answer.json);
    if (parsed.success)
      return { kind: "ok", session: parsed.data.session, heartbeatSeconds: parsed.data.heartbeatSeconds };
    return { kind: "retry", message: "the controller's enrollment answer is malformed" };
  }
  const { code, message } = errorOf(answer.json, answer.status);
  // A taken id frees itself when the old registration goes offline; 5xx and 429 pass.
  if (answer.status === 409 || answer.status === 429 || answer.status >= 500)
    return { kind: "retry", message: `${code}: ${message}` };
  return { kind: "refused", code, message };
}

/**
 * Enrolls (the first attempt awaited) and keeps beating in the background. Throws
 * EnrollmentRefused when the controller refuses the first attempt.
 */
export async function startEnrollment(options: EnrollmentOptions): Promise<Enrollment> {
  const { log } = options;
  const stop = new AbortController();
  const minMs = options.retryMinMs ?? 1000;
  const maxMs = options.retryMaxMs ?? 30_000;
  let session: string | undefined;
  let intervalMs = 15_000;

  const first = await enrollOnce(options);
  if (first.kind === "refused") throw new EnrollmentRefused(first.code, first.message);
  if (first.kind === "ok") {
    session = first.session;
    intervalMs = first.heartbeatSeconds * 1000;
    log.info({ controller: options.controller, heartbeatSeconds: first.heartbeatSeconds }, "enrolled");
  } else {
    log.warn({ controller: options.controller, reason: first.message }, "enrollment failed; retrying");
  }

  const loop = (async () => {
    let backoff = minMs;
    while (!stop.signal.aborted) {
      const wait = session ? intervalMs : backoff;
      try {
        await sleep(wait, undefined, { signal: stop.signal, ref: false });
      } catch {
        return; // stopped
      }
      if (!session) {
        const attempt = await enrollOnce(options);
        if (attempt.kind === "ok") {
          session = attempt.session;
          intervalMs = attempt.heartbeatSeconds * 1000;
          backoff = minMs;
          log.info(
            { controller: options.controller, heartbeatSeconds: attempt.heartbeatSeconds },
            "enrolled",
          );
        } else {
          backoff = attempt.kind === "refused" ? maxMs : Math.min(backoff * 2, maxMs);
          const level = attempt.kind === "refused" ? "error" : "warn";
          log[level]({ reason: attempt.message }, "enrollment failed; retrying");
        }
        continue;
      }
      try {
        const answer = await post(
          new URL(HEARTBEAT_PATH, options.controller).href,
          session,
          { id: options.request.id },
          options.controllerCa,
        );
        if (answer.status === 401) {
          log.warn({ reason: errorOf(answer.json, 401).message }, "heartbeat refused; enrolling again");
          session = undefined;
          backoff = minMs;
        } else if (answer.status === 200) {
          const parsed = heartbeatResponseSchema.safeParse(answer.json);
          if (parsed.success) intervalMs = parsed.data.heartbeatSeconds * 1000;
        } else {
          log.warn({ status: answer.status }, "heartbeat failed");
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        log.warn({ reason: (err as Error).message }, "heartbeat failed");
      }
    }
  })();

  return {
    stop: async () => {
      stop.abort();
      await loop;
    },
  };
}
