/**
 * The S3 sink: uploads a streamed result with the presigned `UploadPart` URLs the signed request
 * carries, using plain `fetch`. No AWS SDK and no credentials here: the URLs are the only authority,
 * scoped by the controller to one multipart upload of one object and expiring with the request.
 *
 * At most PARTS_IN_FLIGHT parts upload at once while one more fills, so memory stays bounded by the
 * part size whatever the artifact's size.
 */
import type { Readable } from "node:stream";
import { AgentError } from "../errors.js";
import type { S3Output } from "../protocol.js";

/** Parts uploading at once (lib-storage's default queue size). */
const PARTS_IN_FLIGHT = 4;

/** One uploaded part, as CompleteMultipartUpload needs it. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
}

export interface PresignedUploadOutcome {
  readonly parts: UploadedPart[];
  readonly bytes: number;
}

/** The URL of part `partNumber` (see `s3OutputSchema`: the parts differ only in two parameters). */
export function partUrl(output: S3Output, partNumber: number): string {
  const part = output.parts[partNumber - 1];
  if (!part) throw new Error(`no presigned URL for part ${partNumber}`);
  return `${output.url}&partNumber=${partNumber}&X-Amz-Signature=${part.signature}`;
}

/**
 * Reads `source` to its end, cutting it into `output.partSize` parts and PUTting each. Throws
 * KH_ACTION_FAILED when the artifact outgrows the presigned parts or the store refuses a part
 * (expired URL, wrong signature, store down), naming the part and the store's answer.
 */
export async function uploadPresigned(
  source: Readable,
  output: S3Output,
  signal: AbortSignal,
): Promise<PresignedUploadOutcome> {
  const parts: UploadedPart[] = [];
  let bytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  const send = async (body: Buffer, partNumber: number): Promise<void> => {
    let response: Response;
    try {
      response = await fetch(partUrl(output, partNumber), {
        method: "PUT",
        body,
        signal,
        redirect: "error",
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new AgentError(
        "KH_ACTION_FAILED",
        `uploading part ${partNumber}: the store is unreachable (${cause})`,
        {
          cause: err,
        },
      );
    }
    const text = await response.text();
    const etag = response.headers.get("etag");
    if (!response.ok || !etag) {
      throw new AgentError(
        "KH_ACTION_FAILED",
        `uploading part ${partNumber}: the store refused it (HTTP ${response.status}${describeS3Error(text)})`,
      );
    }
    parts.push({ partNumber, etag });
  };

  // Cuts exactly partSize bytes off the pending chunks, keeping the remainder for the next part.
  const takePart = (size: number): Buffer => {
    const all = Buffer.concat(pending, pendingBytes);
    const part = all.subarray(0, size);
    const rest = all.subarray(size);
    pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    pendingBytes = rest.length;
    return part;
  };

  let next = 1;
  const inFlight = new Set<Promise<void>>();
  let failed: unknown;
  // Up to PARTS_IN_FLIGHT uploads while the next part fills: throughput like lib-storage's queue,
  // memory bounded by (PARTS_IN_FLIGHT + 1) parts.
  const queue = async (body: Buffer): Promise<void> => {
    while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
    if (failed) throw failed;
    const partNumber = next++;
    if (partNumber > output.parts.length) {
      throw new AgentError(
        "KH_ACTION_FAILED",
        `the artifact exceeds the presigned upload's ${output.parts.length} part(s) of ${output.partSize} bytes`,
      );
    }
    const upload: Promise<void> = send(body, partNumber).then(
      () => {
        inFlight.delete(upload);
      },
      (err: unknown) => {
        failed ??= err;
        inFlight.delete(upload);
      },
    );
    inFlight.add(upload);
  };

  for await (const chunk of source as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= output.partSize) await queue(takePart(output.partSize));
  }
  // The last part (or the only, empty one: S3 cannot complete an upload with no parts).
  if (pendingBytes > 0 || next === 1) await queue(takePart(pendingBytes));
  await Promise.all(inFlight);
  if (failed) throw failed;
  parts.sort((a, b) => a.partNumber - b.partNumber);
  return { parts, bytes };
}

/** The code and message of an S3 XML error body, when there is one. */
function describeS3Error(xml: string): string {
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(xml)?.[1];
  const message = /<Message>([^<]{1,300})<\/Message>/.exec(xml)?.[1];
  return code ? ` ${code}${message ? `: ${message}` : ""}` : "";
}
