/**
 * buildApp(): the agent's Fastify instance, never listening (main.ts does that). Two routes:
 * `POST /v1/requests` (one signed envelope in, one action's masked result out) and `GET /healthz`.
 */

import type { Readable } from "node:stream";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import type { TlsMaterial } from "../common/tls-files.js";
import { clientCertProblem, httpsServerOptions } from "../common/tls-server.js";
import { SIGNATURE_HEADER } from "../protocol/answer.js";
import {
  AGENT_HEADER,
  type ErrorBody,
  errorBodySchema,
  type InlineResult,
  MASKED_TRAILER,
  REQUEST_CONTENT_TYPE,
  REQUEST_ID_HEADER,
  REQUESTS_PATH,
  type S3UploadResult,
} from "../protocol/request.js";
import type { ActionDefinition } from "./actions/types.js";
import { AnswerSigner } from "./answer-signer.js";
import type { uploadPresigned } from "./bundle/s3-presigned.js";
import type { AgentConfig } from "./config.js";
import { AgentError } from "./errors.js";
import { httpServerOptions } from "./http-limits.js";
import { type AgentIdentity, ephemeralIdentity } from "./identity.js";
import { learnTargetSecrets } from "./learn-target.js";
import { resolveTarget } from "./proc/resolve.js";
import type { Redactor } from "./redact/index.js";
import { ReplayCache, type ReplayGuard } from "./replay-cache.js";
import { ActionRunner, RunningStream } from "./run-action.js";
import type { AgentTelemetry } from "./telemetry/index.js";
import type { TrustedKeys } from "./trusted-keys.js";
import { verifyEnvelope } from "./verify.js";

export interface AgentDeps {
  readonly trustedKeys: TrustedKeys;
  /** Every action this build knows; `config.actions` picks the enabled ones. */
  readonly registry: ReadonlyMap<string, ActionDefinition>;
  readonly redactor: Redactor;
  readonly logger?: FastifyBaseLogger | boolean;
  readonly procRoot?: string;
  readonly cgroupRoot?: string;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** OpenTelemetry (agent/telemetry); absent means off. */
  readonly telemetry?: AgentTelemetry;
  /** The replay check; main.ts passes the one that survives restarts (replay-log.ts). Default: in memory. */
  readonly replayGuard?: ReplayGuard;
  /** The agent's own key, which signs every answer (main.ts loads it); default: an ephemeral one. */
  readonly identity?: AgentIdentity;
  /** What signs the answers; default: an AnswerSigner with `identity` (bench/verify.ts swaps it to measure its cost). */
  readonly answerSigner?: AnswerSigner;
  /**
   * Serve HTTPS with this certificate and key (main.ts reads `--tls-cert`/`--tls-key`); with `ca`
   * (`--client-ca`), every route but `/healthz` requires a client certificate it signed.
   */
  readonly tls?: TlsMaterial;
}

/** The enabled subset of the registry; an unknown name in `--actions` stops start-up. */
export function enabledActions(
  registry: ReadonlyMap<string, ActionDefinition>,
  names: readonly string[] | undefined,
): ReadonlyMap<string, ActionDefinition> {
  if (!names) return registry;
  const unknown = names.filter((n) => !registry.has(n));
  if (unknown.length > 0) {
    throw new Error(
      `--actions names unknown actions: ${unknown.join(", ")} (known: ${[...registry.keys()].join(", ")})`,
    );
  }
  return new Map(names.map((n) => [n, registry.get(n)!]));
}

/**
 * The agent's routes declare no Fastify schemas: the envelope is checked by verify.ts and each
 * action's params by its zod schema. So Fastify's JSON Schema compilers (ajv, fast-json-stringify
 * and their helpers: about a hundred modules, 0.6 MB of source) are never needed; these stand-ins
 * keep Fastify from loading them at start, and a route that declares a schema fails at start.
 */
function noJsonSchemaCompiler(): never {
  throw new Error(
    "the agent's routes take no Fastify schemas (verify.ts and the actions' zod schemas check input)",
  );
}
const NO_JSON_SCHEMA_COMPILERS = {
  buildValidator: noJsonSchemaCompiler,
  buildSerializer: noJsonSchemaCompiler,
};

/** Maps Fastify's own errors (body limit, content type, …) onto the catalogue; anything else is internal. */
function toAgentError(err: FastifyError | AgentError): AgentError {
  if (err instanceof AgentError) return err;
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AgentError("KH_TOO_LARGE", "the body exceeds the agent's size limit", { cause: err });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new AgentError("KH_UNSUPPORTED_MEDIA_TYPE", `the body must be ${REQUEST_CONTENT_TYPE}`, {
        cause: err,
      });
    case "FST_ERR_CTP_EMPTY_BODY":
      return new AgentError("KH_MALFORMED", "the body is empty", { cause: err });
    default:
      if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
        return new AgentError("KH_MALFORMED", err.message, { cause: err });
      }
      return new AgentError("KH_INTERNAL", "internal error", { cause: err });
  }
}

export function buildApp(config: AgentConfig, deps: AgentDeps): FastifyInstance {
  const actions = enabledActions(deps.registry, config.actions);
  const enabledNames: ReadonlySet<string> = new Set(actions.keys());
  const replayCache = deps.replayGuard ?? new ReplayCache(config.replayCacheSize);
  const runner = new ActionRunner();
  const procRoot = deps.procRoot ?? "/proc";
  const cgroupRoot = deps.cgroupRoot ?? "/sys/fs/cgroup";
  const signer = deps.answerSigner ?? new AnswerSigner(deps.identity ?? ephemeralIdentity(), deps.now);

  const limits = httpServerOptions(config.httpLimits);
  const app = Fastify({
    loggerInstance: typeof deps.logger === "object" ? deps.logger : undefined,
    logger: typeof deps.logger === "boolean" ? deps.logger : undefined,
    bodyLimit: config.bodyLimitBytes,
    schemaController: { compilersFactory: NO_JSON_SCHEMA_COMPILERS },
    // The route writes its own line per request (with subject, action, outcome); no default ones.
    logController: new LogController({ disableRequestLogging: true }),
    // A slow client must not hold a socket for long: envelopes are small (agent/http-limits.ts).
    ...(deps.tls ? httpsServerOptions(limits, deps.tls) : limits),
    // Our own coded 503 while draining (below), instead of Fastify's uncoded one.
    return503OnClosing: false,
    // A URL the router cannot decode (`/%zz`) is answered before any hook: coded here.
    frameworkErrors: (err, _request, rawReply) => {
      const reply = rawReply as unknown as FastifyReply;
      const coded = new AgentError("KH_MALFORMED", `the URL cannot be processed (${err.code})`);
      void reply.code(coded.status).type("application/json").send(coded.toBody());
    },
  });

  // Draining (SIGTERM): requests in flight finish; a new one on a kept-alive socket is refused.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (closing) {
      reply.header("connection", "close");
      throw new AgentError("KH_SHUTTING_DOWN", "the agent is shutting down; retry against a running agent");
    }
  });
  // An answer finished while draining closes its connection, so close() need not wait for the
  // client's keep-alive to time out.
  app.addHook("onSend", async (request, reply, payload) => {
    if (closing) reply.header("connection", "close");
    // Every answer to an envelope names it (its jti) and, when the envelope was addressed to this
    // agent, the agent: the controller keeps only answers that do (issue 23, finding 4). Read from
    // the envelope as sent, so it tells the caller nothing the caller did not say.
    if (request.method === "POST" && request.routeOptions.url === REQUESTS_PATH) {
      const named = envelopeNames(request.body);
      if (named.jti && !reply.hasHeader(REQUEST_ID_HEADER)) reply.header(REQUEST_ID_HEADER, named.jti);
      if (named.aud === config.id && !reply.hasHeader(AGENT_HEADER)) reply.header(AGENT_HEADER, config.id);
      // A refusal is signed too, so nobody between the agent and the controller can turn an answer into
      // another refusal than the agent's (issue 21). Only the agent's coded error bodies, for the jti
      // the envelope carries: the signature says "this agent refused that jti with this body".
      if (named.jti && reply.statusCode >= 400 && typeof payload === "string") {
        const body = refusalBody(payload);
        if (body) reply.header(SIGNATURE_HEADER, signer.refusal(named.jti, config.id, body));
      }
    }
  });

  // Mutual TLS: the handshake completes without a client certificate (so a kubelet probe of /healthz
  // works), and every other route is refused here, after the body is read (so the refusal names the
  // envelope's jti for the controller, onSend above) and before anything looks at it.
  if (deps.tls?.ca) {
    app.addHook("preHandler", async (request, reply) => {
      if (request.routeOptions.url === "/healthz") return;
      const problem = clientCertProblem(request.raw.socket);
      if (problem === undefined) return;
      request.log.warn(
        { remoteAddress: request.ip, problem },
        "request refused: no trusted client certificate",
      );
      reply.header("connection", "close");
      throw new AgentError("KH_CLIENT_CERT_REQUIRED", `mutual TLS: ${problem}`);
    });
  }

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(REQUEST_CONTENT_TYPE, { parseAs: "string" }, (_req, body, done) =>
    done(null, body),
  );

  app.setErrorHandler((err: FastifyError | AgentError, request, reply) => {
    const coded = toAgentError(err);
    if (coded.code === "KH_INTERNAL") request.log.error({ err }, "internal error");
    return reply.status(coded.status).send(coded.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new AgentError("KH_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`);
    return reply.status(err.status).send(err.toBody());
  });

  // Reveals nothing: not the id, the environment, the version or the actions.
  app.get("/healthz", async () => ({ status: "ok" }));

  app.post(REQUESTS_PATH, async (request, reply) => {
    const started = performance.now();
    const startedAt = new Date();
    let record: Record<string, unknown> = {};
    let streamed: RunningStream | undefined;
    // One line per request, accepted or refused (never the envelope or the result); a streamed
    // answer is logged once its last byte is out, with its size and digest.
    let traceparent: string | undefined;
    const writeLog = (outcome: string, extra: Record<string, unknown> & { bytesOut: number }) => {
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      request.log.info(
        { ...record, outcome, durationMs, ...extra },
        outcome === "ok" ? "request served" : "request refused",
      );
      deps.telemetry?.requestDone({
        startedAt: startedAt.getTime(),
        durationMs,
        traceparent,
        requestId: record.requestId as string | undefined,
        subject: record.sub as string | undefined,
        action: record.action as string | undefined,
        outcome,
        bytesOut: extra.bytesOut,
      });
    };
    try {
      if (typeof request.body !== "string") {
        throw new AgentError("KH_UNSUPPORTED_MEDIA_TYPE", `the body must be ${REQUEST_CONTENT_TYPE}`);
      }
      const verified = verifyEnvelope(request.body, {
        agentId: config.id,
        environment: config.environment,
        trustedKeys: deps.trustedKeys,
        maxTtlSeconds: config.maxTtlSeconds,
        bodyLimitBytes: config.bodyLimitBytes,
        replayCache,
        actions,
        ...(deps.now ? { now: deps.now } : {}),
        // A refusal after the signature verified is still recorded with who asked for what.
        onAuthentic: (authentic) => {
          traceparent = authentic.traceparent;
          record = {
            requestId: authentic.jti,
            iss: authentic.iss,
            sub: authentic.sub,
            action: authentic.action,
          };
        },
      });
      const { claims } = verified;
      traceparent = claims.traceparent;
      record = {
        requestId: claims.jti,
        iss: claims.iss,
        sub: claims.sub,
        action: claims.action,
        ticket: claims.ticket,
        approvals: claims.approvals,
        breakGlass: claims.breakGlass,
        kid: verified.kid,
        output: claims.output.mode,
      };
      const pid = resolveTarget(config.target, { procRoot, selfPid: process.pid });
      record.pid = pid;
      // Every action masks with the target's env secrets known, whether or not another ran first.
      if (learnTargetSecrets({ pid, procRoot, redactor: deps.redactor })) record.targetEnv = "unreadable";

      // Counts what this request's action masks, per rule (never values), for its records.
      const counting = deps.redactor.counting();
      const redactor = { ...counting, counting: () => counting };
      const clientGone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) clientGone.abort(new Error("client disconnected"));
      };
      reply.raw.once("close", onClose);
      let result: unknown;
      try {
        result = await runner.run(
          verified.action,
          verified.params,
          {
            pid,
            redactor,
            log: request.log.child({ requestId: claims.jti, action: claims.action }),
            procRoot,
            cgroupRoot,
            memoryGuardUnseen: config.memoryGuardUnseen,
            spoolMaxBytes: config.spoolMaxMib * 1024 * 1024,
            logRoots: config.logRoots,
            requestId: claims.jti,
            agentId: config.id,
            outputMode: claims.output.mode === "inline" ? "inline" : "stream",
            enabledActions: enabledNames,
          },
          clientGone.signal,
        );
      } finally {
        if (!(result instanceof RunningStream)) reply.raw.off("close", onClose);
      }

      if (result instanceof RunningStream && claims.output.mode === "s3") {
        // Upload with the presigned URLs instead of streaming; answer what was stored.
        streamed = result;
        const running = result;
        let upload: Awaited<ReturnType<typeof uploadPresigned>>;
        try {
          // The S3 sink is loaded by the first s3-mode request, not at the agent's start.
          const sink = await import("./bundle/s3-presigned.js");
          upload = await sink.uploadPresigned(running.stream, claims.output, clientGone.signal);
        } catch (err) {
          running.stream.destroy(); // releases the action's slot and what it holds
          await running.done;
          writeLog(toAgentError(err as AgentError).code, { bytesOut: 0, err });
          throw err;
        } finally {
          reply.raw.off("close", onClose);
        }
        const { bytes, sha256, error } = await running.done;
        if (error || !sha256) {
          const coded = toAgentError((error ?? new Error("the stream ended without a digest")) as AgentError);
          writeLog(coded.code, { bytesOut: bytes, err: error });
          throw coded;
        }
        const masked = counting.counts();
        writeLog("ok", { bytesOut: bytes, sha256, parts: upload.parts.length, masked });
        const answer: S3UploadResult = {
          requestId: claims.jti,
          agent: config.id,
          action: claims.action,
          filename: running.filename,
          contentType: running.contentType,
          upload: { parts: upload.parts, bytes, sha256 },
          masked,
        };
        return reply.type("application/json").send(signer.s3(answer));
      }

      if (result instanceof RunningStream) {
        // Nothing is sent until the stream has its first bytes (or ends): a refusal before then is
        // answered with its code, as in s3 mode, not as a broken or malformed stream (issue 23
        // attack, N7).
        try {
          await firstBytes(result.stream);
        } catch (err) {
          reply.raw.off("close", onClose);
          result.stream.destroy(); // releases the action's slot and what it holds
          await result.done;
          throw err;
        }
        streamed = result;
        result.done.then(({ bytes, sha256, error }) => {
          reply.raw.off("close", onClose);
          if (error) writeLog(toAgentError(error as AgentError).code, { bytesOut: bytes, err: error });
          else writeLog("ok", { bytesOut: bytes, sha256, masked: counting.counts() });
        });
        return (
          reply
            .header("content-type", result.contentType)
            .header("content-disposition", `attachment; filename="${result.filename}"`)
            .header(REQUEST_ID_HEADER, claims.jti)
            .header(AGENT_HEADER, config.id)
            .header("x-keyhole-action", claims.action)
            // The digest of the bytes actually sent; a reader that got no trailer got a broken stream.
            .trailer("x-keyhole-sha256", async () => (await result.done).sha256 ?? "")
            .trailer(MASKED_TRAILER, async () => {
              await result.done;
              return JSON.stringify(counting.counts());
            })
            // The agent's signature over the jti, the digest, the size and the mask counts (issue 21).
            .trailer(SIGNATURE_HEADER, async () => {
              const { sha256, bytes } = await result.done;
              if (!sha256) return "";
              return signer.stream({
                jti: claims.jti,
                agent: config.id,
                action: claims.action,
                sha256,
                bytes,
                masked: counting.counts(),
              });
            })
            .send(result.stream)
        );
      }

      const body: InlineResult = {
        requestId: claims.jti,
        agent: config.id,
        action: claims.action,
        startedAt: startedAt.toISOString(),
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        result,
        masked: counting.counts(),
      };
      const json = signer.inline(body);
      const bytesOut = Buffer.byteLength(json);
      if (bytesOut > verified.action.limits.maxOutputBytes) {
        throw new AgentError(
          "KH_ACTION_FAILED",
          `the result of ${claims.action} exceeds its output cap of ${verified.action.limits.maxOutputBytes} bytes`,
        );
      }
      writeLog("ok", { bytesOut, masked: body.masked });
      return reply.type("application/json").send(json);
    } catch (err) {
      const coded = toAgentError(err as AgentError);
      const logErr = !(err instanceof AgentError) || coded.code === "KH_ACTION_FAILED";
      if (!streamed) writeLog(coded.code, { bytesOut: 0, ...(logErr ? { err } : {}) });
      throw coded;
    }
  });

  return app;
}

/**
 * The `jti` and `aud` an envelope's payload states, unverified: only echoed in headers. A `jti` is
 * taken only in the shape the claims schema allows (printable ASCII, 16 to 128 characters).
 */
function envelopeNames(body: unknown): { jti?: string; aud?: string } {
  if (typeof body !== "string" || body.length > 1024 * 1024) return {};
  const payload = body.split(".")[1];
  if (!payload) return {};
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const jti =
      typeof claims.jti === "string" && /^[\x21-\x7e]{16,128}$/.test(claims.jti) ? claims.jti : undefined;
    const aud = typeof claims.aud === "string" ? claims.aud : undefined;
    return { ...(jti ? { jti } : {}), ...(aud ? { aud } : {}) };
  } catch {
    return {};
  }
}

/** The agent's own refusal body `{"error":{code,message}}` in `payload`, parsed; undefined for anything else. */
function refusalBody(payload: string): ErrorBody | undefined {
  if (payload.length > 64 * 1024) return undefined;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(payload));
    return parsed.success
      ? { error: { code: parsed.data.error.code, message: parsed.data.error.message } }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves once `stream` holds its first bytes or has ended, rejects with its error if it fails
 * before; the bytes stay buffered for whoever reads it next.
 */
function firstBytes(stream: Readable): Promise<void> {
  if (stream.readableLength > 0 || stream.readableEnded) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off("readable", onReadable);
      stream.off("error", done);
      stream.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onReadable = () => done();
    const onClose = () => done(stream.errored ?? new Error("the stream closed before its first byte"));
    stream.on("readable", onReadable);
    stream.on("error", done);
    stream.on("close", onClose);
  });
}
