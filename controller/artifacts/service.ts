/**
 * Artifacts as the API sees them: listing, reading (authorised like reading the request that made
 * them), downloads (audited before the first byte leaves) and retention (expired objects deleted
 * from the store, then stamped and audited).
 */
import type { Readable } from "node:stream";
import type { FastifyBaseLogger } from "fastify";
import { ControllerError } from "../errors.js";
import type { Principal } from "../identity/principal.js";
import type { Policy } from "../policy/load-policy.js";
import { canSee, listVisible } from "../policy/visibility.js";
import type { ArtifactRecord, Store } from "../store/types.js";
import type { ArtifactStore } from "./types.js";

export interface ArtifactServiceDeps {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  readonly policy: Policy;
  readonly controllerId: string;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
}

const DAY_MS = 24 * 3600 * 1000;

export class ArtifactService {
  private readonly deps: ArtifactServiceDeps;
  private readonly actor: string;

  constructor(deps: ArtifactServiceDeps) {
    this.deps = deps;
    this.actor = `controller:${deps.controllerId}`;
  }

  /** Visible artifacts, newest first (deleted ones included: their custody record stays). */
  async list(who: Principal, query: { limit: number }): Promise<ArtifactRecord[]> {
    return listVisible(
      query.limit,
      (before) => this.deps.store.listArtifacts({ limit: query.limit, ...(before ? { before } : {}) }),
      (record) => this.visible(who, record),
    );
  }

  /** One artifact the caller may see, else KH_NOT_FOUND (as if it did not exist). */
  async get(who: Principal, id: string): Promise<ArtifactRecord> {
    const artifact = await this.deps.store.getArtifact(id);
    if (!artifact || !(await this.visible(who, artifact)))
      throw new ControllerError("KH_NOT_FOUND", `no artifact "${id}"`);
    return artifact;
  }

  /**
   * Seen like the request that made it, params included: a raw heap snapshot's artifact needs
   * `heap-snapshot:unredacted`, a bundle's every action inside it.
   */
  private async visible(who: Principal, artifact: ArtifactRecord): Promise<boolean> {
    if (canSee(this.deps.policy, who, { ...artifact, params: undefined })) return true;
    const request = await this.deps.store.getRequest(artifact.requestId);
    return canSee(this.deps.policy, who, { ...artifact, params: request?.params });
  }

  /**
   * Opens the content for a download and records `artifact.downloaded` first: who took a copy is on
   * the record even if they stop reading halfway.
   */
  async download(who: Principal, id: string): Promise<{ artifact: ArtifactRecord; body: Readable }> {
    const artifact = await this.get(who, id);
    if (artifact.deletedAt !== undefined) {
      throw new ControllerError(
        "KH_ARTIFACT_GONE",
        `artifact "${id}" was deleted at ${new Date(artifact.deletedAt).toISOString()} (retention)`,
      );
    }
    let body: Readable;
    try {
      body = await this.deps.artifacts.open(artifact.location);
    } catch (err) {
      throw new ControllerError("KH_ARTIFACT_UNAVAILABLE", `artifact "${id}" cannot be read from the store`, {
        cause: err,
      });
    }
    try {
      await this.deps.store.appendAudit(
        [
          {
            actor: who.subject,
            event: "artifact.downloaded",
            requestId: artifact.requestId,
            details: { artifactId: artifact.id, sha256: artifact.sha256, size: artifact.size },
          },
        ],
        this.deps.now(),
      );
    } catch (err) {
      body.destroy();
      throw err;
    }
    return { artifact, body };
  }

  /**
   * Deletes every artifact older than its environment's `artifactRetentionDays`: the object first,
   * then the record is stamped with `artifact.deleted`. A store failure leaves the record live, so
   * the next sweep tries again. Returns how many were deleted.
   */
  async sweepExpired(): Promise<number> {
    const now = this.deps.now();
    let deleted = 0;
    for (const [environment, env] of this.deps.policy.environments) {
      const cutoff = now - env.artifactRetentionDays * DAY_MS;
      for (const artifact of await this.deps.store.listExpiredArtifacts(environment, cutoff, 200)) {
        try {
          await this.deps.artifacts.delete(artifact.location);
        } catch (err) {
          this.deps.log.error({ err, artifactId: artifact.id }, "cannot delete an expired artifact");
          continue;
        }
        const marked = await this.deps.store.markArtifactDeleted(artifact.id, now, [
          {
            actor: this.actor,
            event: "artifact.deleted",
            requestId: artifact.requestId,
            details: {
              artifactId: artifact.id,
              sha256: artifact.sha256,
              size: artifact.size,
              location: artifact.location,
              retentionDays: env.artifactRetentionDays,
              createdAt: new Date(artifact.createdAt).toISOString(),
            },
          },
        ]);
        if (marked) deleted++;
      }
    }
    return deleted;
  }
}
