/** Chooses the artifact store for the configuration: the local folder, or S3 when a bucket is set. */
import { isLoopbackHost } from "../../common/loopback.js";
import type { ArtifactStoreConfig } from "../config.js";
import { openLocalArtifactStore } from "./local-store.js";
import { openS3ArtifactStore } from "./s3-store.js";
import type { ArtifactStore } from "./types.js";

/** Opens the configured store; the caller closes it. */
export async function openArtifactStore(config: ArtifactStoreConfig): Promise<ArtifactStore> {
  switch (config.kind) {
    case "local":
      return openLocalArtifactStore(config.dir, config.maxBytes);
    case "s3":
      return openS3ArtifactStore(config);
  }
}

/**
 * A warning for an S3 endpoint reached over plain http beyond loopback (an in-cluster MinIO, say):
 * artifacts then cross the network unencrypted, and the stream mode's parts go unsigned
 * (UNSIGNED-PAYLOAD), so only keyhole's SHA-256 at download would notice them changed.
 */
export function plainHttpWarning(config: ArtifactStoreConfig): string | undefined {
  if (config.kind !== "s3" || config.endpoint === undefined) return undefined;
  const url = new URL(config.endpoint);
  if (url.protocol !== "http:" || isLoopbackHost(url.hostname)) return undefined;
  return `the S3 endpoint ${url.origin} is plain http: artifacts (heap snapshots, bundles) cross the network unencrypted and stream-mode parts are sent unsigned, so only the SHA-256 checked at download would notice tampering; use an https endpoint`;
}
