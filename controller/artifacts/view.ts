/**
 * The artifact as the HTTP API shows it: ISO times, `deletedAt` only once retention removed it. Never
 * where the controller keeps it (a file path on the controller, a bucket and key): that is the
 * controller's business, recorded in the audit trail, and a download goes through the API.
 */
import type { ArtifactRecord } from "../store/types.js";

export interface ArtifactView {
  id: string;
  requestId: string;
  subject: string;
  environment: string;
  agent: string;
  action: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  digestSource: ArtifactRecord["digestSource"];
  store: string;
  createdAt: string;
  deletedAt?: string;
  /** The agent's signature over the request's jti and this artifact's SHA-256, size and mask counts. */
  agentSignature?: string;
  /** The public key (base64url) the controller verified it with: the agent's pinned key. */
  agentKey?: string;
}

/** Renders a stored artifact for the API. */
export function toArtifactView(a: ArtifactRecord): ArtifactView {
  return {
    id: a.id,
    requestId: a.requestId,
    subject: a.subject,
    environment: a.environment,
    agent: a.agent,
    action: a.action,
    filename: a.filename,
    contentType: a.contentType,
    size: a.size,
    sha256: a.sha256,
    digestSource: a.digestSource,
    store: a.store,
    createdAt: new Date(a.createdAt).toISOString(),
    ...(a.deletedAt === undefined ? {} : { deletedAt: new Date(a.deletedAt).toISOString() }),
    ...(a.agentSignature === undefined ? {} : { agentSignature: a.agentSignature }),
    ...(a.agentKey === undefined ? {} : { agentKey: a.agentKey }),
  };
}
