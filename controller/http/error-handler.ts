/**
 * Every refusal leaves as `{"error":{"code":"KH_…","message":"…"}}`. Fastify's own errors (bad JSON,
 * oversized bodies, wrong media types, unknown routes) are mapped to catalogue codes here, so a
 * client never sees a 5xx for bad input and never sees Fastify's error shape.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CONTROLLER_ERRORS, ControllerError, type ControllerErrorCode } from "../errors.js";
import { isStoreUnavailable } from "../store/unavailable.js";

const FASTIFY_CODES: Readonly<Record<string, ControllerErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "KH_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "KH_UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_JSON_BODY: "KH_MALFORMED",
  FST_ERR_CTP_EMPTY_JSON_BODY: "KH_MALFORMED",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "KH_MALFORMED",
  FST_ERR_BAD_URL: "KH_BAD_REQUEST",
};

/** The catalogue error for anything thrown while handling a request. */
export function toControllerError(err: FastifyError | Error): ControllerError {
  if (err instanceof ControllerError) return err;
  if (isStoreUnavailable(err)) {
    return new ControllerError(
      "KH_STORE_UNAVAILABLE",
      "the controller's database is unavailable; nothing was recorded, retry shortly",
      { cause: err },
    );
  }
  const fastifyCode = (err as FastifyError).code;
  const mapped = fastifyCode ? FASTIFY_CODES[fastifyCode] : undefined;
  if (mapped) return new ControllerError(mapped, CONTROLLER_ERRORS[mapped].description, { cause: err });
  const status = (err as FastifyError).statusCode;
  // JSON.parse's SyntaxError, and the prototype-poisoning refusals, arrive as plain 400s.
  if (err instanceof SyntaxError || status === 400)
    return new ControllerError("KH_MALFORMED", "the body is not valid JSON", { cause: err });
  if (status !== undefined && status >= 400 && status < 500) {
    return new ControllerError("KH_BAD_REQUEST", "the request cannot be processed", { cause: err });
  }
  return new ControllerError("KH_INTERNAL", "internal error; see the controller's log", { cause: err });
}

function send(request: FastifyRequest, reply: FastifyReply, err: ControllerError): FastifyReply {
  // Log once, at the edge: faults as errors with their cause, refusals as one info line.
  if (err.status >= 500) request.log.error({ err: err.cause ?? err, code: err.code }, "request failed");
  else request.log.info({ code: err.code }, err.message);
  return reply.code(err.status).type("application/json").send(err.toBody());
}

/** Installs the error, not-found and framework-error handlers. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => send(request, reply, toControllerError(err)));
  app.setNotFoundHandler((request, reply) =>
    send(
      request,
      reply,
      new ControllerError("KH_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`),
    ),
  );
}
