/**
 * Reference process for the idle-RSS and start-to-ready benches: a bare node:http server that
 * answers every request (`GET /healthz` included) with 200. Listens on the port given as the first
 * argument, or on any free port.
 */
import { createServer } from "node:http";

const server = createServer((_req, res) => res.end("ok"));
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ ready: true, port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
