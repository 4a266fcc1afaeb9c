/**
 * Issue 16, finding 6: after the agent had learned a secret, it still let it out in common
 * escapings (Go's `\u0026`, Python's `\u00e4`, HTML entities, percent-encoding of every character
 * or in lower-case hex, double URL-encoding, UTF-16 base64), in heap snapshots too; an argv value
 * starting with `-` was read as the next flag; `'password' => '…'` and `PASSWORD<TAB>value` were not
 * seen as names. Attacked as it was found: a real `keyhole agent` process and a real workload whose
 * environment holds the secret and which writes it, in every listed encoding, to its log and keeps
 * it in memory; its command line passes another password that starts with `-`.
 */
import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimsFor, makeSigner, type TestSigner } from "../helpers/envelope.js";
import { startLeakyWorkload } from "../helpers/leaky-workload.js";
import { ENCODINGS } from "../helpers/secret-encodings.js";
import { Stack, type StartedProcess } from "../helpers/stack.js";

const AGENT_ID = "staging/shop/shop-0";
const pick = (alphabet: string, n: number) =>
  Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]!).join("");
const ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** In the environment: letters, and the characters each encoding treats differently. */
const SECRET = `${pick(ALNUM, 6)}&<${pick(ALNUM, 3)}>"ä/${pick(ALNUM, 4)} +'${pick(ALNUM, 3)}€`;
/** Only in the log, under a name written the PHP and tab-separated ways. */
const NAMED = pick(ALNUM, 18);
/** Only on the command line, after a secret flag, starting with `-`. */
const DASHED = `-X${pick(ALNUM, 14)}`;

const stack = new Stack("finding-6");
let signer: TestSigner;
let agent: StartedProcess;
let logFile: string;

beforeAll(async () => {
  signer = await makeSigner();
  const jwks = stack.write("jwks.json", JSON.stringify(signer.jwks));
  logFile = stack.path("app.log");
  const workload = await startLeakyWorkload({
    name: `encodings-${process.pid}-${randomInt(1e9)}`,
    env: { DB_PASSWORD: SECRET },
    args: ["--db-password", DASHED, "--port", "8080"],
    logFile,
    lines: [
      ...Object.values(ENCODINGS).map(
        (encode, i) => `2026-11-30T10:00:00Z debug enc-${i} ${encode(SECRET)} end`,
      ),
      `2026-11-30T10:00:01Z debug config 'password' => '${NAMED}',`,
      `PASSWORD\t${NAMED}`,
    ],
    linesFile: stack.path("lines.json"),
  });
  stack.onStop(() => workload.stop(0));
  agent = await stack.startAgent({
    id: AGENT_ID,
    environment: "staging",
    trustedKeys: jwks,
    target: workload.pid,
    env: { KEYHOLE_STATE_DIR: stack.path("state"), KEYHOLE_LOG_ROOT: stack.dir },
  });
});

afterAll(() => stack.stop(0));

async function run(action: string, params: Record<string, unknown>, mode: "inline" | "stream" = "inline") {
  const res = await fetch(`${agent.url}/v1/requests`, {
    method: "POST",
    headers: { "content-type": "application/jwt" },
    body: await signer.sign(claimsFor({ action, params, output: { mode } })),
  });
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBe(200);
  return text;
}

/** Every encoding of SECRET (and the other two secrets) that `texts` still hold. */
function leaks(texts: readonly string[]): string[] {
  const found: string[] = [];
  for (const [name, encode] of Object.entries(ENCODINGS)) {
    if (texts.some((t) => t.includes(encode(SECRET)))) found.push(name);
  }
  if (texts.some((t) => t.includes(NAMED))) found.push("the PHP / tab-separated named value");
  if (texts.some((t) => t.includes(DASHED.slice(1)))) found.push("the dash-leading flag value");
  return found;
}

describe("issue 16 finding 6: a learned value is found in every encoding a program commonly writes", () => {
  it("finding 6: process-info masks a secret flag's value that starts with '-'", async () => {
    const { result } = JSON.parse(await run("process-info", {}));
    const cmdline: string[] = result.cmdline;
    expect(cmdline.indexOf("--db-password")).toBeGreaterThan(0);
    expect(cmdline[cmdline.indexOf("--db-password") + 1]).toMatch(/^⟦masked:secret-flag:[0-9a-f]{12}⟧$/);
    expect(cmdline.slice(-2)).toEqual(["--port", "8080"]);
    expect(leaks([JSON.stringify(result)])).toEqual([]);
  });

  it("finding 6: log-tail masks the env secret in every listed encoding, and the new name forms", async () => {
    const { result } = JSON.parse(await run("log-tail", { file: logFile, lines: 1000 }));
    const lines: string[] = result.lines;
    expect(lines).toHaveLength(Object.keys(ENCODINGS).length + 2);
    expect(leaks(lines)).toEqual([]);
    // Masked in place: the line's words around it stay.
    for (const [i, line] of lines.slice(0, Object.keys(ENCODINGS).length).entries()) {
      expect(line).toMatch(
        new RegExp(`^2026-11-30T10:00:00Z debug enc-${i} (⟦masked:known-value:[0-9a-f]{12}⟧)+ end$`),
      );
    }
    expect(lines.at(-1)).toMatch(/^PASSWORD\t⟦masked:secret-name:[0-9a-f]{12}⟧$/);
  });

  it("finding 6: a heap snapshot masks the env secret in every listed encoding held in memory", async () => {
    const snapshot = JSON.parse(await run("heap-snapshot", {}, "stream"));
    const strings: string[] = snapshot.strings;
    expect(strings.length).toBeGreaterThan(1000);
    // The workload holds the lines: each is in the snapshot, masked.
    expect(
      strings.filter((s) => /^2026-11-30T10:00:00Z debug enc-\d+ /.test(s)).length,
    ).toBeGreaterThanOrEqual(Object.keys(ENCODINGS).length);
    expect(leaks(strings)).toEqual([]);
  });
});
