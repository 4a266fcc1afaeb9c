/**
 * `/v1/artifacts`: list, describe and download stored artifacts. Reading one is authorised like
 * reading the request that produced it; a download is audited before its first byte, and rate
 * limited per subject like requests, since each one adds a record to the audit chain (issue 23,
 * finding 7).
 */
import type { FastifyInstance } from "fastify";
import type { ArtifactService } from "../artifacts/service.js";
import { toArtifactView } from "../artifacts/view.js";
import type { Authenticator } from "../identity/principal.js";
import type { RateCounter } from "../store/types.js";
import { principalOf, requireBearer } from "./authenticate.js";
import { artifactIdParamsSchema, emptyQuerySchema, listArtifactsQuerySchema } from "./schemas.js";
import { registerSubjectRateLimit } from "./shared-rate-limit.js";
import { parseInput } from "./validate.js";

/** The header that carries the stored SHA-256, so a client can verify what it received. */
export const ARTIFACT_SHA256_HEADER = "x-keyhole-sha256";

/** Registers the artifact routes behind the bearer-token gate. */
export function artifactRoutes(
  authenticator: Authenticator,
  artifacts: ArtifactService,
  options: { rateLimitPerMinute?: number; rateCounter?: RateCounter | undefined } = {},
) {
  return async (scope: FastifyInstance): Promise<void> => {
    requireBearer(scope, authenticator);
    const downloadConfig = await registerSubjectRateLimit(scope, {
      what: "artifact downloads",
      perMinute: options.rateLimitPerMinute ?? 0,
      counter: options.rateCounter,
    });

    scope.get("/", async (request) => {
      const query = parseInput(listArtifactsQuerySchema, request.query, "query");
      const found = await artifacts.list(principalOf(request), query);
      return { artifacts: found.map(toArtifactView) };
    });

    scope.get("/:id", async (request) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(artifactIdParamsSchema, request.params, "path");
      return { artifact: toArtifactView(await artifacts.get(principalOf(request), id)) };
    });

    scope.get("/:id/content", downloadConfig, async (request, reply) => {
      parseInput(emptyQuerySchema, request.query, "query");
      const { id } = parseInput(artifactIdParamsSchema, request.params, "path");
      const { artifact, body } = await artifacts.download(principalOf(request), id);
      request.log.info(
        { artifactId: id, requestId: artifact.requestId, size: artifact.size },
        "artifact download",
      );
      return reply
        .header("content-type", artifact.contentType)
        .header("content-length", String(artifact.size))
        .header("content-disposition", `attachment; filename="${artifact.filename}"`)
        .header(ARTIFACT_SHA256_HEADER, artifact.sha256)
        .header("x-keyhole-artifact-id", artifact.id)
        .send(body);
    });
  };
}
