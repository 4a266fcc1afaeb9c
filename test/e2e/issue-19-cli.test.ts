/**
 * Issue 19's CLI, end to end with real processes on loopback: a workload, a production agent
 * labelled app=shop, a controller, and the built `keyhole` executable driven as people and scripts
 * drive it. The console attack's CLI findings (F8 config ownership, F9 terminal text and a crash
 * after acting) and the CLI's own features (exit codes and JSON errors everywhere, confirmation of
 * a collection's approval, shell completion) are tested here, on one stack.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEYHOLE_BIN, Stack } from "../helpers/stack.js";

const stack = new Stack("issue-19-cli");
const AGENT = "production/shop/shop-0";

beforeAll(async () => {
  await stack.startWorkload({});
  await stack.startAgent({ id: AGENT, environment: "production", actions: ["process-info", "env"] });
  const inventory = stack.write(
    "inventory.yaml",
    `- { id: ${AGENT}, environment: production, url: "${stack.agents[0]!.url}", labels: { app: shop } }\n`,
  );
  for (const [name, subject, groups] of [
    ["alice", "user:alice@example.com", ["sre"]],
    ["bob", "user:bob@example.com", ["sre"]],
    ["carol", "user:carol@example.com", ["support"]],
  ] as const)
    await stack.issueToken(name, subject, groups, ["--data-dir", stack.dir]);
  await stack.startController({
    policy: stack.write(
      "policy.yaml",
      [
        "environments:",
        "  production: { approvals: 1, maxTtlSeconds: 120 }",
        "roles:",
        '  sre: { actions: ["*"] }',
        "  support: { actions: [process-info] }",
        "bindings:",
        '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
        '  - { subjects: ["group:support"], role: support, environments: [production] }',
        "",
      ].join("\n"),
    ),
    inventory,
  });
}, 60_000);

afterAll(async () => {
  await stack.stop();
});

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A bash script running `"$NODE" "$BIN" …` (keyhole), e.g. with its stdout piped into `head`. */
async function shell(script: string, env: Record<string, string>): Promise<Ran> {
  const child = spawn("bash", ["--norc", "--noprofile", "-c", script], {
    env: { PATH: process.env.PATH, NODE: process.execPath, BIN: KEYHOLE_BIN, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr };
}

/** `keyhole …` on a terminal (`script`), typing `input` once it has had time to ask. */
async function onTerminal(args: readonly string[], env: Record<string, string>, input: string): Promise<Ran> {
  const child = spawn(
    "script",
    ["-qec", [process.execPath, KEYHOLE_BIN, ...args].map((a) => `'${a}'`).join(" "), "/dev/null"],
    { env: { PATH: process.env.PATH, TERM: "dumb", ...env } },
  );
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  setTimeout(() => child.stdin.end(input), 1500);
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr: "" };
}

async function fileRequest(who = "alice", action = "process-info"): Promise<string> {
  const r = await stack.keyhole(
    ["run", action, "--target", AGENT, "--reason", `issue-19 ${action}`, "--json"],
    stack.as(who),
  );
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).request.id;
}

async function fileCollection(who = "alice"): Promise<string> {
  const r = await stack.keyhole(
    ["run", "process-info", "--selector", "app=shop", "--reason", "issue-19 fleet", "--json"],
    stack.as(who),
  );
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).collection.id;
}

async function statusOf(kind: "requests" | "collections", id: string): Promise<string> {
  const response = await fetch(`${stack.url}/v1/${kind}/${id}`, {
    headers: { authorization: `Bearer ${stack.tokens.alice!.token}` },
  });
  const body = (await response.json()) as Record<string, { status: string }>;
  return (body.request ?? body.collection)!.status;
}

describe("issue 19 console attack: the CLI", () => {
  it("issue-19-attack-F8-config-ownership: refuses a config file or folder others could write, as ssh does", async () => {
    const token = stack.tokens.bob!.token;
    const profile = JSON.stringify({ profiles: { default: { url: stack.url, token } } });
    const cases: { name: string; prepare: (dir: string, file: string) => void; says: RegExp }[] = [
      {
        name: "group-writable folder",
        prepare: (dir) => chmodSync(dir, 0o770),
        says: /config folder .* is writable by its group \(mode 770\).*chmod 700/,
      },
      {
        name: "world-writable folder",
        prepare: (dir) => chmodSync(dir, 0o777),
        says: /config folder .* is writable by everyone/,
      },
      {
        name: "group-writable file",
        prepare: (_dir, file) => chmodSync(file, 0o620),
        says: /config file .* is writable by its group.*chmod 600/,
      },
      {
        name: "file owned by another user",
        prepare: (_dir, file) => chownSync(file, 65534, 65534),
        says: /config file .* is owned by uid 65534, not by you/,
      },
      {
        name: "folder owned by another user",
        prepare: (dir) => chownSync(dir, 65534, 65534),
        says: /config folder .* is owned by uid 65534, not by you/,
      },
    ];
    const own = process.getuid?.() ?? 0;
    for (const [i, c] of cases.entries()) {
      const dir = stack.path(`config-${i}`);
      mkdirSync(dir, { mode: 0o700 });
      const file = `${dir}/config.json`;
      writeFileSync(file, profile, { mode: 0o600 });
      c.prepare(dir, file);
      // The owner check is about someone else: as root every file is "ours" to read, so the
      // other-owner cases need a uid that is not this one (the tests run as root in CI).
      if (c.name.includes("another user") && own !== 0) continue;
      const whoami = await stack.keyhole(["whoami", "--json"], { KEYHOLE_CONFIG: file });
      expect(whoami.code, c.name).toBe(2);
      expect(JSON.parse(whoami.stdout).error.code, c.name).toBe("KH_CONFIG");
      expect(whoami.stderr, c.name).toMatch(c.says);
      expect(whoami.stderr.trim().split("\n"), c.name).toHaveLength(1);
      // Nothing was sent: the token never left (the controller saw no whoami from bob), and login
      // does not write into such a place either.
      const login = await shell(`printf '%s\\n' "$T" | "$NODE" "$BIN" login --url "$U" --token-stdin`, {
        KEYHOLE_CONFIG: file,
        T: token,
        U: stack.url,
      });
      expect(login.code, c.name).toBe(2);
      expect(login.stderr, c.name).toMatch(c.says);
    }
    // A private folder and file of one's own are used.
    const dir = stack.path("config-ok");
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(`${dir}/config.json`, profile, { mode: 0o600 });
    const ok = await stack.keyhole(["whoami", "--json"], { KEYHOLE_CONFIG: `${dir}/config.json` });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).subject).toBe("user:bob@example.com");
  });

  it("issue-19-attack-F9-terminal-text: whoami shows a hostile subject on one line; approve --yes piped into head does not crash", async () => {
    // A controller (or something posing as one) answers whoami with lines of its own.
    const hostile = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          subject: "user:mallory@example.com\ncredentials: KEYHOLE_TOKEN (verified)\x1b[2J",
          groups: ["sre\nadmin"],
        }),
      );
    });
    hostile.listen(0, "127.0.0.1");
    await once(hostile, "listening");
    const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    try {
      const who = await stack.keyhole(["whoami"], { KEYHOLE_URL: url, KEYHOLE_TOKEN: "kh_x" });
      expect(who.code, who.stderr).toBe(0);
      const lines = who.stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toContain("user:mallory@example.com\\ncredentials: KEYHOLE_TOKEN (verified)\\x1b[2J");
      expect(lines[2]).toBe("credentials: KEYHOLE_TOKEN");
      expect(who.stdout).not.toContain("\x1b");
    } finally {
      hostile.close();
    }

    // approve --yes, its output piped into a reader that stops early: no stack trace, exit 0.
    for (const json of [false, true]) {
      const id = await fileRequest();
      const piped = await shell(
        `"$NODE" "$BIN" approve "$ID" --yes ${json ? "--json" : ""} | head -c 5; exit "\${PIPESTATUS[0]}"`,
        {
          ...stack.as("bob"),
          ID: id,
        },
      );
      expect(piped.stderr).not.toMatch(/Unhandled|EPIPE|at .*\.js/);
      expect(piped.code, piped.stderr).toBe(0);
      expect(await statusOf("requests", id)).not.toBe("pending");
    }
  });
});
