/**
 * The one place the agent signs its answers (protocol/answer.ts, issue 21). Every transport hands its
 * answer to one of these before it leaves the agent: `inline()` for a JSON result, `s3()` for an
 * upload report, `stream()` for the trailer of a streamed artifact, `refusal()` for an error body.
 * Each signs the envelope's `jti` and the SHA-256 of the content with the agent's own key.
 */
import { sign } from "node:crypto";
import { type AnswerStatement, answerSigningInput, jsonContentDigest } from "../protocol/answer.js";
import type { ErrorBody, InlineResult, S3UploadResult, WireMaskCounts } from "../protocol/request.js";
import type { AgentIdentity } from "./identity.js";

export class AnswerSigner {
  constructor(
    private readonly identity: AgentIdentity,
    private readonly now: () => number = Date.now,
  ) {}

  /** The public key (base64url) a controller pins for this agent. */
  get publicKey(): string {
    return this.identity.jwk.x;
  }

  /** Signs a statement: the compact JWS. */
  sign(statement: Omit<AnswerStatement, "iat">): string {
    const input = answerSigningInput({ ...statement, iat: Math.floor(this.now() / 1000) }, this.identity.jwk);
    return `${input}.${sign(null, Buffer.from(input), this.identity.privateKey).toString("base64url")}`;
  }

  /**
   * An inline answer as the JSON text to send: `answer` with its `signature` member, which covers the
   * canonical JSON of everything else in it. Hashed from the parsed text, so what is signed is exactly
   * what the receiver parses (a Date or an undefined in a result serialises as JSON has it).
   */
  inline(answer: InlineResult): string {
    const json = JSON.stringify(answer);
    const signature = this.sign({
      jti: answer.requestId,
      agent: answer.agent,
      kind: "inline",
      action: answer.action,
      sha256: jsonContentDigest(JSON.parse(json)),
    });
    return `${json.slice(0, -1)},"signature":${JSON.stringify(signature)}}`;
  }

  /** An upload report with its signature over the uploaded bytes' digest, size and mask counts. */
  s3(answer: S3UploadResult): S3UploadResult & { signature: string } {
    return {
      ...answer,
      signature: this.sign({
        jti: answer.requestId,
        agent: answer.agent,
        kind: "s3",
        action: answer.action,
        sha256: answer.upload.sha256,
        bytes: answer.upload.bytes,
        ...(answer.masked ? { masked: answer.masked } : {}),
      }),
    };
  }

  /** The signature of a streamed artifact, once its last byte is out (sent as a trailer). */
  stream(answer: {
    jti: string;
    agent: string;
    action: string;
    sha256: string;
    bytes: number;
    masked: WireMaskCounts;
  }): string {
    return this.sign({ ...answer, kind: "stream" });
  }

  /** The signature of a refusal body, for the envelope `jti` it answers (sent as a header). */
  refusal(jti: string, agent: string, body: ErrorBody): string {
    return this.sign({ jti, agent, kind: "error", sha256: jsonContentDigest(body) });
  }
}
