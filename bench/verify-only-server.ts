/**
 * Second reference for the throughput bench: a Fastify server that does nothing but verify the
 * Ed25519 signature of each posted compact JWS with a bare `crypto.verify`. It is the ceiling for
 * any server that authenticates every request this way, so the agent's distance from it is the
 * cost of keyhole itself (checks, /proc reads, masking, logging).
 */
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import Fastify from "fastify";

const jwk = JSON.parse(readFileSync(process.argv[2]!, "utf8")).keys[0];
const key = createPublicKey({ key: jwk, format: "jwk" });
const app = Fastify({ logger: false });
app.addContentTypeParser("application/jwt", { parseAs: "string" }, (_req, body, done) => done(null, body));
app.post("/v1/requests", async (request, reply) => {
  const jws = request.body as string;
  const dot = jws.lastIndexOf(".");
  const ok = verify(null, Buffer.from(jws.slice(0, dot)), key, Buffer.from(jws.slice(dot + 1), "base64url"));
  return ok ? { ok } : reply.status(401).send({ ok });
});
await app.listen({ host: "127.0.0.1", port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ ready: true, port: typeof address === "object" && address ? address.port : 0 })}\n`,
);
process.once("SIGTERM", () => app.close().then(() => process.exit(0)));
