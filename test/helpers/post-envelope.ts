/** POSTs one envelope to a listening agent over real HTTP and resolves with the response head. */
import { type IncomingMessage, request } from "node:http";

export function postEnvelope(port: number, body: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/requests",
        headers: { "content-type": "application/jwt" },
      },
      resolve,
    );
    req.on("error", reject);
    req.end(body);
  });
}
