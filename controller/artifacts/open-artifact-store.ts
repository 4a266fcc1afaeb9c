/** Chooses the artifact store for the configuration: the local folder, or S3 when a bucket is set. */
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
