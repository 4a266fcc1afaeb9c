/** Reference process for the idle-RSS bench: a bare node:http server. */
import { createServer } from "node:http";

const server = createServer((_req, res) => res.end("ok"));
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ ready: true, port: typeof address === "object" && address ? address.port : 0 })}\n`,
  );
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
