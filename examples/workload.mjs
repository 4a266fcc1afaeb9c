#!/usr/bin/env node
/**
 * A small sample Node HTTP workload for `keyhole demo` and the tests: something real for the agent
 * to look at. No dependencies.
 *
 * - listens on 127.0.0.1:$PORT (default 0: an ephemeral port);
 * - prints one JSON line `{"ready":true,"pid":…,"port":…}` on stdout once listening;
 * - keeps some objects in memory (an in-process cache), so its heap is not trivially empty;
 * - exits 0 on SIGTERM or SIGINT after closing the server.
 *
 * It reads secrets from its environment like a real service would (DEMO_API_KEY, DATABASE_URL)
 * and never prints them on stdout. With LOG_FILE set it appends an application log there, one
 * JSON line per event — and, like many real services, its start-up line carries the database
 * URL with its password: the kind of leak the agent's masking exists for.
 */
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const logFile = process.env.LOG_FILE;
function log(level, msg, fields = {}) {
  if (!logFile) return;
  appendFileSync(logFile, `${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

const rawPort = process.env.PORT ?? "0";
const port = Number(rawPort);
if (!/^[0-9]{1,5}$/.test(rawPort) || port > 65535) {
  process.stderr.write(`workload: PORT must be a port number, got ${JSON.stringify(rawPort)}\n`);
  process.exit(2);
}

// An in-process cache: objects that stay reachable, as in a real service.
const cache = new Map();
for (let i = 0; i < 2000; i++) {
  cache.set(`order-${i}`, {
    id: i,
    items: [{ sku: `sku-${i % 97}`, qty: (i % 5) + 1 }],
    createdAt: Date.now(),
  });
}
// Its configuration, held in memory as services do: a heap snapshot would carry these strings.
const config = Object.freeze({ apiKey: process.env.DEMO_API_KEY, databaseUrl: process.env.DATABASE_URL });
const configured = {
  apiKeyPresent: Boolean(config.apiKey),
  databaseConfigured: Boolean(config.databaseUrl),
};
let served = 0;

const server = createServer((req, res) => {
  served++;
  const url = new URL(req.url ?? "/", "http://workload");
  log("info", "request", { method: req.method, path: url.pathname });
  if (url.pathname === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    return;
  }
  if (url.pathname === "/orders" && req.method === "GET") {
    const id = Number(url.searchParams.get("id"));
    const order = cache.get(`order-${id}`);
    res
      .writeHead(order ? 200 : 404, { "content-type": "application/json" })
      .end(JSON.stringify(order ?? { error: "no such order" }));
    return;
  }
  res
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify({ service: "workload", orders: cache.size, served, ...configured }));
});

server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  const listening = typeof address === "object" && address ? address.port : port;
  log("info", "connecting to the database", { url: config.databaseUrl ?? null });
  for (let i = 0; i < 5; i++) log("info", "cache warmed", { orders: cache.size, shard: i });
  log("warn", "slow query", { ms: 1830, query: "SELECT * FROM orders WHERE id = $1" });
  log("info", "listening", { port: listening });
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, port: listening })}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  // Idle keep-alive sockets would otherwise hold close() open.
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
