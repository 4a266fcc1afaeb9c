/**
 * An agent stand-in for the fault tests, on loopback, that holds each envelope as long as a test
 * wants (a dispatch "in flight"). The real keyhole processes come from test/helpers/stack.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AnswerSigner } from "../../agent/answer-signer.js";
import { ephemeralIdentity } from "../../agent/identity.js";

export interface HoldingAgent {
  readonly url: string;
  /** The claims of every envelope received, in order. */
  readonly received: Record<string, unknown>[];
  /** How long to hold the next answers (ms); Infinity holds until the connection closes. */
  holdMs: number;
  /** Resolves once `n` envelopes have arrived. */
  waitForEnvelopes(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** An agent stand-in: reads each envelope's claims (unverified) and answers a result after `holdMs`. */
export async function startHoldingAgent(holdMs = Number.POSITIVE_INFINITY): Promise<HoldingAgent> {
  const received: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const open = new Set<ServerResponse>();
  // Signs its answers with its own key like a real agent (issue 21); the inventory pins none.
  const signer = new AnswerSigner(ephemeralIdentity());
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (c) => {
      body += String(c);
    });
    req.on("end", () => {
      const claims = JSON.parse(Buffer.from(body.split(".")[1] ?? "", "base64url").toString() || "{}");
      received.push(claims);
      for (const wake of waiters.splice(0)) wake();
      open.add(res);
      res.once("close", () => open.delete(res));
      const answer = () =>
        res.writeHead(200, { "content-type": "application/json" }).end(
          signer.inline({
            requestId: claims.jti,
            agent: claims.aud,
            action: claims.action,
            startedAt: new Date().toISOString(),
            durationMs: 1,
            result: { pid: 1 },
          }),
        );
      if (Number.isFinite(agent.holdMs)) setTimeout(answer, agent.holdMs).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const agent: HoldingAgent = {
    url: `http://127.0.0.1:${port}`,
    received,
    holdMs,
    waitForEnvelopes: (n, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${received.length} of ${n} envelopes arrived`)),
          timeoutMs,
        );
        const check = () => {
          if (received.length >= n) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return agent;
}
