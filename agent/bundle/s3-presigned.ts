/**
 * The S3 sink: uploads a streamed result with the presigned `UploadPart` URLs the signed request
 * carries, with plain node:http(s). No AWS SDK and no credentials here: the URLs are the only
 * authority, scoped by the controller to one multipart upload of one object and expiring with the
 * request. Redirects are never followed (a 3xx is a refusal).
 *
 * Memory is bounded whatever the artifact's size: the bytes are copied once into part buffers from
 * a pool that is reused for the whole upload (no fresh allocation per part, no concatenation, no
 * copy by the HTTP client), one filling while the others upload. The pool holds at most
 * PART_BUFFER_BUDGET bytes (at least two parts, at most PARTS_IN_FLIGHT + 1).
 *
 * When the request carries a `tail` URL, every URL in `parts` signs the part's length, so only full
 * parts go there and the last, shorter part goes to the tail (issue 23, finding 2).
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import type { S3Output } from "../../protocol/request.js";
import { AgentError } from "../errors.js";

/** Most parts uploading at once (lib-storage's default queue size). */
const PARTS_IN_FLIGHT = 4;
/** The pool's budget: 5 parts of 8 MiB, 3 of 16 MiB; never fewer than 2 parts. */
const PART_BUFFER_BUDGET = 48 * 1024 * 1024;
/** An S3 answer to a part PUT is a few hundred bytes; an error body is read up to this. */
const MAX_ANSWER_BYTES = 16 * 1024;

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

/** How many part buffers the pool may hold for this part size. */
export function partBuffers(partSize: number): number {
  return Math.min(PARTS_IN_FLIGHT + 1, Math.max(2, Math.floor(PART_BUFFER_BUDGET / partSize)));
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
  const { partSize } = output;
  const maxBuffers = partBuffers(partSize);
  // At most maxBuffers exist: one filling, the others uploading (queue() waits for a free one).
  const pool: Buffer[] = [];
  const take = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(partSize);

  const parts: UploadedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failed: unknown;
  let next = 1;

  // Sends a full (or the last) part; waits first while every spare buffer is uploading.
  const queue = async (body: Buffer, length: number): Promise<void> => {
    while (inFlight.size >= maxBuffers - 1 && !failed) await Promise.race(inFlight);
    if (failed) throw failed;
    const toTail = output.tail !== undefined && length < partSize;
    const partNumber = toTail ? output.tail!.partNumber : next++;
    if (!toTail && partNumber > output.parts.length) {
      throw new AgentError(
        "KH_ACTION_FAILED",
        `the artifact exceeds the presigned upload's ${output.parts.length} part(s) of ${partSize} bytes`,
      );
    }
    const url = toTail ? output.tail!.url : partUrl(output, partNumber);
    const upload: Promise<void> = putPart(url, body.subarray(0, length), signal)
      .then(
        (etag) => {
          parts.push({ partNumber, etag });
          pool.push(body);
        },
        (err: unknown) => {
          failed ??= signal.aborted
            ? signal.reason
            : new AgentError("KH_ACTION_FAILED", `uploading part ${partNumber}: ${(err as Error).message}`, {
                cause: err,
              });
        },
      )
      .finally(() => inFlight.delete(upload));
    inFlight.add(upload);
  };

  let bytes = 0;
  let current = take();
  let filled = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      let offset = 0;
      while (offset < chunk.length) {
        // A part is sent once a byte beyond it arrives, so the last part is never empty.
        if (filled === partSize) {
          await queue(current, filled);
          current = take();
          filled = 0;
        }
        const n = Math.min(partSize - filled, chunk.length - offset);
        chunk.copy(current, filled, offset, offset + n);
        filled += n;
        offset += n;
      }
    }
    // The last part (or the only, empty one: S3 cannot complete an upload with no parts).
    await queue(current, filled);
    await Promise.all(inFlight);
  } finally {
    // On a failure the other parts still uploading end with the signal or their own answer.
    if (inFlight.size > 0) await Promise.allSettled(inFlight);
  }
  if (failed) throw failed;
  parts.sort((a, b) => a.partNumber - b.partNumber);
  return { parts, bytes };
}

/** PUTs one part; resolves with its ETag, rejects with a one-line reason. */
function putPart(url: string, body: Buffer, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    let req: ClientRequest;
    const onAbort = () => req.destroy(signal.reason as Error);
    const done = (err: Error | undefined, etag?: string) => {
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(etag!);
    };
    req = send(url, { method: "PUT", headers: { "content-length": body.length } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      res.once("error", (err) => done(unreachable(err)));
      res.once("end", () => {
        const status = res.statusCode ?? 0;
        const etag = res.headers.etag;
        if (status >= 200 && status < 300 && etag) done(undefined, etag);
        else
          done(
            new Error(
              `the store refused it (HTTP ${status}${describeS3Error(Buffer.concat(chunks).toString("utf8"))})`,
            ),
          );
      });
    });
    signal.addEventListener("abort", onAbort, { once: true });
    req.once("error", (err) => done(unreachable(err)));
    req.end(body);
  });
}

function unreachable(err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  return new Error(`the store is unreachable (${code})`, { cause: err });
}

/** The code and message of an S3 XML error body, when there is one. */
function describeS3Error(xml: string): string {
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(xml)?.[1];
  const message = /<Message>([^<]{1,300})<\/Message>/.exec(xml)?.[1];
  return code ? ` ${code}${message ? `: ${message}` : ""}` : "";
}
