/**
 * Issue 23, finding 10: answers were not authenticated, so a man in the middle between the
 * controller and an agent could replace results and the S3 upload report, not only read them. A
 * real loopback proxy sits between the controller and the real agent (`buildApp`, listening) and
 * rewrites what passes: the inline result, a streamed artifact (with a matching digest trailer), the
 * upload report (after uploading its own bytes with the presigned URLs it read in the envelope), or
 * re-signs a rewritten result with a key of its own. Every substitution is refused with
 * KH_AGENT_UNVERIFIED and nothing of it is stored; the honest path through the same proxy completes.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnswerSigner } from "../../../agent/answer-signer.js";
import { uploadPresigned } from "../../../agent/bundle/s3-presigned.js";
import { ephemeralIdentity } from "../../../agent/identity.js";
import { claimsSchema, type RequestClaims } from "../../../protocol/request.js";
import { startS3, type TestS3 } from "../../helpers/s3rver.js";
import { type ArtifactHarness, REAL_AGENT, sha256, startArtifactHarness, testBytes } from "./harness.js";

type Mode = "pass" | "rewrite-inline" | "resign-inline" | "rewrite-stream" | "forge-s3";

const FORGED = testBytes(200_000, 99);
const mitmSigner = new AnswerSigner(ephemeralIdentity());

/** The man in the middle: forwards to the agent, or rewrites, as `state.mode` says. */
async function startProxy(agentUrl: string, state: { mode: Mode }): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const envelope = Buffer.concat(chunks).toString();
      // It reads the claims (nothing stops a man in the middle from reading the envelope).
      const claims: RequestClaims = claimsSchema.parse(
        JSON.parse(Buffer.from(envelope.split(".")[1]!, "base64url").toString("utf8")),
      );
      const names = { "x-keyhole-request-id": claims.jti, "x-keyhole-agent": REAL_AGENT };
      void (async () => {
        if (state.mode === "forge-s3" && claims.output.mode === "s3") {
          // Uploads its own bytes with the presigned URLs and reports them as the agent's.
          const { parts } = await uploadPresigned(
            Readable.from([FORGED]),
            claims.output,
            AbortSignal.timeout(20_000),
          );
          res.writeHead(200, { "content-type": "application/json", ...names }).end(
            JSON.stringify({
              requestId: claims.jti,
              agent: REAL_AGENT,
              action: claims.action,
              filename: "bundle.tar",
              contentType: "application/x-tar",
              upload: { parts, bytes: FORGED.length, sha256: sha256(FORGED) },
              masked: {},
            }),
          );
          return;
        }
        const upstream = httpRequest(`${agentUrl}/v1/requests`, {
          method: "POST",
          headers: { "content-type": "application/jwt", te: "trailers" },
        });
        upstream.end(envelope);
        const answer = await new Promise<import("node:http").IncomingMessage>((ok, fail) =>
          upstream.once("response", ok).once("error", fail),
        );
        const body: Buffer[] = [];
        for await (const chunk of answer) body.push(chunk as Buffer);
        const headers = Object.fromEntries(
          Object.entries(answer.headers).filter(
            ([k]) => k !== "content-length" && k !== "transfer-encoding" && k !== "trailer",
          ),
        ) as Record<string, string>;
        if (state.mode === "rewrite-stream" && answer.statusCode === 200) {
          // Other bytes, with their true digest, and the agent's own signature trailer copied over.
          res.writeHead(200, {
            ...headers,
            trailer: "x-keyhole-sha256, x-keyhole-masked, x-keyhole-signature",
          });
          res.write(FORGED);
          res.addTrailers({
            "x-keyhole-sha256": sha256(FORGED),
            "x-keyhole-masked": answer.trailers["x-keyhole-masked"] ?? "{}",
            "x-keyhole-signature": answer.trailers["x-keyhole-signature"] ?? "",
          });
          res.end();
          return;
        }
        let text = Buffer.concat(body).toString();
        if (
          (state.mode === "rewrite-inline" || state.mode === "resign-inline") &&
          answer.statusCode === 200
        ) {
          const json = JSON.parse(text);
          json.result.pid = 1; // "the process is init"
          if (state.mode === "resign-inline") {
            const { signature: _dropped, ...unsigned } = json;
            text = mitmSigner.inline(unsigned);
          } else text = JSON.stringify(json);
        }
        res.writeHead(answer.statusCode ?? 502, headers).end(text);
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

let s3: TestS3;
let h: ArtifactHarness;
let proxy: Server | undefined;
const state: { mode: Mode } = { mode: "pass" };

beforeAll(async () => {
  s3 = await startS3();
  h = await startArtifactHarness({
    s3,
    pinAgentKey: true,
    interpose: async (agentUrl) => {
      const started = await startProxy(agentUrl, state);
      proxy = started.server;
      return started.url;
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
  proxy?.closeAllConnections();
  proxy?.close();
  await s3?.close();
});

describe("issue 23 finding 10: a man in the middle cannot substitute an agent's answer", () => {
  it("issue-23-finding-10: the honest answer through the proxy is stored, with the agent's signature", async () => {
    state.mode = "pass";
    const request = await h.run("process-info", {}, "inline", REAL_AGENT);
    expect(request).toMatchObject({ status: "completed", result: { result: { pid: process.pid } } });
    expect(typeof request.answerSignature).toBe("string");
  });

  it("issue-23-finding-10: a rewritten inline result is refused, nothing of it stored", async () => {
    state.mode = "rewrite-inline";
    const request = await h.run("process-info", {}, "inline", REAL_AGENT);
    expect(request).toMatchObject({ status: "failed", error: { code: "KH_AGENT_UNVERIFIED" } });
    expect(request.result).toBeUndefined();
  });

  it("issue-23-finding-10: a rewritten result re-signed with the proxy's own key is refused (the agent's key is pinned)", async () => {
    state.mode = "resign-inline";
    const request = await h.run("process-info", {}, "inline", REAL_AGENT);
    expect(request).toMatchObject({ status: "failed", error: { code: "KH_AGENT_UNVERIFIED" } });
    expect(request.error.message).toMatch(/does not verify with the agent's public key/);
  });

  it("issue-23-finding-10: other streamed bytes with their own digest are refused, no artifact registered", async () => {
    state.mode = "rewrite-stream";
    const request = await h.run("bytes", { size: 100_000 }, "stream", REAL_AGENT);
    expect(request).toMatchObject({ status: "failed", error: { code: "KH_AGENT_UNVERIFIED" } });
    expect(request.artifactId).toBeUndefined();
  });

  it("issue-23-finding-10: a substituted upload report (its own bytes, uploaded with the presigned URLs) is refused and the object deleted", async () => {
    state.mode = "forge-s3";
    const before = await s3.objectKeys();
    const request = await h.run("bytes", { size: 100_000 }, "s3", REAL_AGENT);
    expect(request).toMatchObject({ status: "failed", error: { code: "KH_AGENT_UNVERIFIED" } });
    expect(request.artifactId).toBeUndefined();
    expect(await s3.objectKeys()).toEqual(before);
    expect(await s3.openUploads()).toEqual([]);
  });
});
