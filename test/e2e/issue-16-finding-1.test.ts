/**
 * Issue 16, finding 1: log-tail (and bundle) returned a target's env secrets in clear when it was
 * the first request after the agent started, because only some actions taught the redactor the
 * target's env values. Attacked as it was found: a real `keyhole agent` process, a real workload
 * whose environment holds a password that it also writes to its log (verbatim, base64 and
 * URL-encoded, in lines no other rule would mask), and the very first request after the agent
 * starts, or after the target restarts with a new password.
 */
import { randomInt } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { claimsFor, makeSigner, type TestSigner } from "../helpers/envelope.js";
import { startLeakyWorkload } from "../helpers/leaky-workload.js";
import { Stack, type StartedProcess } from "../helpers/stack.js";

const AGENT_ID = "staging/shop/shop-0";
const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/**
 * 18 characters with three that URL-encoding changes: short enough that its base64 (24
 * characters) is below the entropy rule's 32, so only the known-value rule can mask the lines.
 */
function newSecret(): string {
  const chars = Array.from({ length: 15 }, () => ALPHABET[randomInt(ALPHABET.length)]!);
  chars.splice(5, 0, "/");
  chars.splice(10, 0, "@");
  chars.splice(14, 0, "+");
  return chars.join("");
}

/** The forms of `secret` the review found leaking. */
function formsOf(secret: string): Record<string, string> {
  return {
    verbatim: secret,
    base64: Buffer.from(secret).toString("base64"),
    urlEncoded: encodeURIComponent(secret),
  };
}

/** Log lines that carry the secret without a name, a prefix or enough length for another rule. */
function leakyLines(secret: string): string[] {
  const forms = formsOf(secret);
  return [
    "2026-11-30T10:00:00Z info starting",
    `2026-11-30T10:00:01Z debug upstream accepted ${forms.verbatim} for svc-payments`,
    `2026-11-30T10:00:02Z debug replaying blob ${forms.base64} from cache`,
    `2026-11-30T10:00:03Z info redirect /cb?next=${forms.urlEncoded}&lang=en`,
    "2026-11-30T10:00:04Z info ready",
  ];
}

function expectNoForms(text: string, secret: string): void {
  for (const [form, value] of Object.entries(formsOf(secret))) {
    expect(text.includes(value), `the ${form} secret left the agent`).toBe(false);
  }
}

const stack = new Stack("finding-1");
afterEach(() => stack.stop(0));

interface Setup {
  readonly signer: TestSigner;
  readonly logFile: string;
  startWorkload(secret: string): Promise<StartedProcess>;
  startAgent(): Promise<StartedProcess>;
}

async function setUp(): Promise<Setup> {
  const signer = await makeSigner();
  const jwks = stack.write("jwks.json", JSON.stringify(signer.jwks));
  const logFile = stack.path("app.log");
  const name = `leaky-${process.pid}-${randomInt(1e9)}`;
  return {
    signer,
    logFile,
    async startWorkload(secret) {
      await writeFile(logFile, "");
      const workload = await startLeakyWorkload({
        name,
        env: { DB_PASSWORD: secret, APP_ENV: "staging" },
        logFile,
        lines: leakyLines(secret),
        linesFile: stack.path("lines.json"),
      });
      stack.onStop(() => workload.stop(0));
      return workload;
    },
    startAgent: () =>
      stack.startAgent({
        id: AGENT_ID,
        environment: "staging",
        trustedKeys: jwks,
        target: name,
        env: { KEYHOLE_STATE_DIR: stack.path("state"), KEYHOLE_LOG_ROOT: stack.dir },
      }),
  };
}

async function post(agent: StartedProcess, body: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(`${agent.url}/v1/requests`, {
    method: "POST",
    headers: { "content-type": "application/jwt" },
    body,
  });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

const logTail = (signer: TestSigner, file: string) =>
  signer.sign(claimsFor({ action: "log-tail", params: { file, lines: 100 } }));

describe("issue 16 finding 1: no action depends on another having run first", () => {
  it("finding 1: the first log-tail after agent start masks the target's env secrets", async () => {
    const setup = await setUp();
    const secret = newSecret();
    await setup.startWorkload(secret);
    const agent = await setup.startAgent();

    const { status, bytes } = await post(agent, await logTail(setup.signer, setup.logFile));
    expect(status).toBe(200);
    const text = bytes.toString("utf8");
    expect(JSON.parse(text).result.count).toBe(5);
    expectNoForms(text, secret);
    // Masked as what it is (not dropped): three known-value markers, one per leaking line.
    expect(text.match(/⟦masked:known-value:/g)).toHaveLength(3);
  });

  it("finding 1: the first bundle after agent start masks the target's env secrets", async () => {
    const setup = await setUp();
    const secret = newSecret();
    await setup.startWorkload(secret);
    const agent = await setup.startAgent();

    const body = await setup.signer.sign(
      claimsFor({
        action: "bundle",
        params: { actions: [{ action: "log-tail", params: { file: setup.logFile, lines: 100 } }] },
        output: { mode: "stream" },
      }),
    );
    const { status, bytes } = await post(agent, body);
    expect(status).toBe(200);
    // An uncompressed tar: the entries' bytes are in it as they are.
    const tar = bytes.toString("latin1");
    expect(tar).toContain("01-log-tail.json");
    expectNoForms(tar, secret);
    expect(tar.match(/masked:known-value:/g)).toHaveLength(3);
  });

  it("finding 1: after the target restarts with a new secret, the first log-tail masks the new one", async () => {
    const setup = await setUp();
    const first = newSecret();
    const workload = await setup.startWorkload(first);
    const agent = await setup.startAgent();
    const before = await post(agent, await logTail(setup.signer, setup.logFile));
    expect(before.status).toBe(200);
    expectNoForms(before.bytes.toString("utf8"), first);

    // A new process (new pid and start time) with a new password, writing it to a fresh log.
    await workload.stop();
    const second = newSecret();
    await setup.startWorkload(second);
    const after = await post(agent, await logTail(setup.signer, setup.logFile));
    expect(after.status).toBe(200);
    const text = after.bytes.toString("utf8");
    expect(JSON.parse(text).result.count).toBe(5);
    expectNoForms(text, second);
    expect(text.match(/⟦masked:known-value:/g)).toHaveLength(3);
  });
});
