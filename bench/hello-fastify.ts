/** Reference server for the throughput bench: a Fastify hello-world, nothing else. */
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.post("/", async () => ({ hello: "world" }));
app.get("/", async () => ({ hello: "world" }));
await app.listen({ host: "127.0.0.1", port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ ready: true, port: typeof address === "object" && address ? address.port : 0 })}\n`,
);
process.once("SIGTERM", () => app.close().then(() => process.exit(0)));
