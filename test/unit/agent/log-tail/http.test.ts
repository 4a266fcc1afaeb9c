/** log-tail through the real agent HTTP path: signed envelope in, coded answer out. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS } from "../../../../agent/actions/index.js";
import { buildApp } from "../../../../agent/app.js";
import { loadAgentConfig } from "../../../../agent/config.js";
import { createRedactor } from "../../../../agent/redact/index.js";
import { claimsFor, makeSigner, type TestSigner } from "../../../helpers/envelope.js";
import { type LogDirs, makeLogDirs } from "./fixture.js";

let dirs: LogDirs;
let signer: TestSigner;
let app: FastifyInstance;

beforeAll(async () => {
  dirs = makeLogDirs();
  writeFileSync(join(dirs.root, "app.log"), "first\nsecond token=abcdef0123456789abcdef\n");
  writeFileSync(join(dirs.base, "outside.log"), "outside\n");
  signer = await makeSigner();
  const config = loadAgentConfig(
    {
      id: "staging/shop/shop-0",
      environment: "staging",
      trustedKeys: "unused",
      // The test process stands in as the target: log-tail never looks at it.
      target: String(process.pid),
      logRoot: [dirs.root],
    },
    {},
  );
  app = buildApp(config, {
    trustedKeys: signer.trustedKeys,
    registry: ACTIONS,
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 9) }),
    logger: false,
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  dirs?.cleanup();
});

/** The parts of an answer these tests read. */
interface Answer {
  error: { code: string };
  result: { lines: string[] } & Record<string, unknown>;
}

async function logTail(params: Record<string, unknown>) {
  const res = await app.inject({
    method: "POST",
    url: "/v1/requests",
    headers: { "content-type": "application/jwt" },
    body: await signer.sign(claimsFor({ action: "log-tail", params })),
  });
  return { status: res.statusCode, json: res.json() as Answer };
}

describe("log-tail over HTTP", () => {
  it("refuses a path outside the root with 403 KH_PATH_DENIED", async () => {
    for (const file of [join(dirs.base, "outside.log"), "../outside.log", "/etc/passwd"]) {
      const { status, json } = await logTail({ file });
      expect(status).toBe(403);
      expect(json.error.code).toBe("KH_PATH_DENIED");
    }
  });

  it("answers the masked last lines of a file inside the root", async () => {
    const { status, json } = await logTail({ file: "app.log", lines: 1 });
    expect(status).toBe(200);
    expect(json.result).toMatchObject({ file: "app.log", count: 1, reachedStart: false });
    expect(json.result.lines[0]).toMatch(/^second token=⟦masked:/);
  });

  it("refuses params it does not know with 400 KH_BAD_PARAMS", async () => {
    const { status, json } = await logTail({ file: "app.log", regex: ".*" });
    expect(status).toBe(400);
    expect(json.error.code).toBe("KH_BAD_PARAMS");
  });
});
