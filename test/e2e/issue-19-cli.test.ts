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
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../cli/program.js";
import { KEYHOLE_BIN, Stack } from "../helpers/stack.js";

const stack = new Stack("issue-19-cli");
const AGENT = "production/shop/shop-0";

beforeAll(async () => {
  await stack.startWorkload({});
  await stack.startAgent({
    id: AGENT,
    environment: "production",
    actions: ["process-info", "env", "bundle", "heap-snapshot"],
  });
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
      if (i > 0) continue;
      // login does not write into such a place either.
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

/** Waits for `who`'s pending request with this reason (filed by a command still running); its id. */
async function pendingWith(reason: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const listed = await fetch(`${stack.url}/v1/requests?status=pending`, {
      headers: { authorization: `Bearer ${stack.tokens.bob!.token}` },
    });
    const { requests } = (await listed.json()) as { requests: { id: string; reason: string }[] };
    const id = requests.find((r) => r.reason === reason)?.id;
    if (id) return id;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no pending request "${reason}"`);
}

const api = (who: string, method: "GET" | "POST", path: string, body?: unknown) =>
  fetch(`${stack.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.tokens[who]!.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe("issue 19: the CLI for the same people", () => {
  it("approve on a collection shows what is approved and asks on a terminal; no approves nothing, --yes does not ask", async () => {
    const no = await fileCollection();
    const refused = await onTerminal(["approve", no], stack.as("bob"), "n\n");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/requester:\s+user:alice@example\.com/);
    expect(refused.stdout).toMatch(/reason:\s+issue-19 fleet/);
    expect(refused.stdout).toContain(`  ${AGENT}`);
    expect(refused.stdout).toMatch(
      /Approve process-info on these 1 target\(s\) for user:alice@example\.com\? \[y\/N\]/,
    );
    expect(refused.stdout).toContain("keyhole: not approved");
    expect(await statusOf("collections", no)).toBe("pending");

    const yes = await onTerminal(["approve", no], stack.as("bob"), "y\n");
    expect(yes.code, yes.stdout).toBe(0);
    expect(await statusOf("collections", no)).not.toBe("pending");

    const scripted = await fileCollection();
    const unasked = await onTerminal(["approve", scripted, "--yes"], stack.as("bob"), "");
    expect(unasked.code, unasked.stdout).toBe(0);
    expect(unasked.stdout).not.toContain("[y/N]");
  });

  it("heavy actions work as typed: bundle and heap-snapshot stream unless --output says otherwise", async () => {
    const waiting = stack.keyhole(
      [
        "run",
        "bundle",
        "--target",
        AGENT,
        "--param",
        'actions=[{"action":"process-info"}]',
        "--reason",
        "issue-19 bundle as typed",
        "--wait",
        "--timeout",
        "60",
        "--json",
      ],
      stack.as("alice"),
      60_000,
    );
    const id = await pendingWith("issue-19 bundle as typed");
    expect((await api("bob", "POST", `/v1/requests/${id}/approve`, {})).status).toBe(200);
    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    const { request } = JSON.parse(done.stdout);
    expect(request).toMatchObject({ status: "completed", output: "stream" });
    expect(request.artifactId).toEqual(expect.any(String));

    // heap-snapshot is filed as a stream (an inline one is refused when filed): withdrawn at once.
    const filed = await stack.keyhole(
      ["run", "heap-snapshot", "--target", AGENT, "--reason", "issue-19 heap as typed", "--json"],
      stack.as("alice"),
    );
    expect(filed.code, filed.stderr).toBe(0);
    const heap = JSON.parse(filed.stdout).request;
    expect(heap.output).toBe("stream");
    await api("alice", "POST", `/v1/requests/${heap.id}/deny`, { reason: "test only" });
    // Told otherwise, it says so when filed.
    const inline = await stack.keyhole(
      ["run", "heap-snapshot", "--target", AGENT, "--reason", "x", "--output", "inline", "--json"],
      stack.as("alice"),
    );
    expect(inline.code).toBe(1);
    expect(JSON.parse(inline.stdout).error.code).toBe("KH_BAD_PARAMS");
  }, 90_000);

  it("exit codes follow the documented table on every command, and under --json every failure is one JSON document", async () => {
    // One request and one collection denied, and a request approved by nobody: outcomes to show.
    const denied = await fileRequest();
    await api("bob", "POST", `/v1/requests/${denied}/deny`, { reason: "no" });
    const deniedCollection = await fileCollection();
    await api("bob", "POST", `/v1/collections/${deniedCollection}/deny`, { reason: "no" });
    const pending = await fileRequest();
    const unknown = "00000000-0000-4000-8000-000000000000";
    const emptyConfig = stack.path("empty-config", "config.json");
    const nobody = { KEYHOLE_URL: stack.url, KEYHOLE_CONFIG: emptyConfig };
    const closed = await new Promise<string>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(`http://127.0.0.1:${port}`));
      });
    });
    const rows: { what: string; args: string[]; env: Record<string, string>; exit: number; code?: string }[] =
      [
        {
          what: "a usage error",
          args: ["run", "env", "--target", AGENT],
          env: stack.as("alice"),
          exit: 2,
          code: "KH_USAGE",
        },
        {
          what: "an unknown option",
          args: ["whoami", "--bogus"],
          env: stack.as("alice"),
          exit: 2,
          code: "KH_USAGE",
        },
        { what: "not signed in", args: ["requests"], env: nobody, exit: 2, code: "KH_USAGE" },
        { what: "a bad completion shell", args: ["completion", "fish"], env: {}, exit: 2, code: "KH_USAGE" },
        {
          what: "an unreachable controller",
          args: ["requests"],
          env: { KEYHOLE_URL: closed, KEYHOLE_TOKEN: stack.tokens.alice!.token },
          exit: 1,
          code: "KH_UNREACHABLE",
        },
        {
          what: "a policy refusal",
          args: ["run", "env", "--target", AGENT, "--reason", "x"],
          env: stack.as("carol"),
          exit: 1,
          code: "KH_POLICY_DENIED",
        },
        {
          what: "self-approval",
          args: ["approve", pending, "--yes"],
          env: stack.as("alice"),
          exit: 1,
          code: "KH_SELF_APPROVAL",
        },
        {
          what: "an unknown request",
          args: ["status", unknown],
          env: stack.as("alice"),
          exit: 1,
          code: "KH_NOT_FOUND",
        },
        {
          what: "an unknown collection",
          args: ["collection", unknown],
          env: stack.as("alice"),
          exit: 1,
          code: "KH_NOT_FOUND",
        },
        {
          what: "a denied request",
          args: ["status", denied],
          env: stack.as("alice"),
          exit: 1,
          code: "KH_DENIED",
        },
        {
          what: "a denied collection",
          args: ["collection", deniedCollection],
          env: stack.as("alice"),
          exit: 1,
          code: "KH_DENIED",
        },
        { what: "a pending request", args: ["status", pending], env: stack.as("alice"), exit: 0 },
      ];
    // Four at a time: each row is two real processes.
    const check = async (row: (typeof rows)[number]) => {
      const human = await stack.keyhole(row.args, row.env);
      expect(human.code, `${row.what}: ${human.stderr}`).toBe(row.exit);
      if (row.exit !== 0) {
        // People get one line on stderr, saying why.
        expect(human.stderr.trim().split("\n"), row.what).toHaveLength(1);
        expect(human.stderr, row.what).toMatch(/^keyhole: /);
      }
      const json = await stack.keyhole([...row.args, "--json"], row.env);
      expect(json.code, `${row.what} --json: ${json.stderr}`).toBe(row.exit);
      // Exactly one JSON document on stdout, whatever happened.
      const document = JSON.parse(json.stdout);
      if (row.code) {
        const error = document.error ?? undefined;
        if (error)
          expect(error, row.what).toEqual({
            code: row.code,
            message: expect.any(String),
            exitCode: row.exit,
          });
        // An outcome (denied) prints the item itself, and its status says what happened.
        else expect(JSON.stringify(document), row.what).toMatch(/"status":"denied"/);
        if (error) expect(error.message, row.what).not.toMatch(new RegExp(`^${row.code}`));
      }
    };
    const queue = [...rows];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let row = queue.shift(); row; row = queue.shift()) await check(row);
      }),
    );

    // `collection ID` exits as `run --selector --wait` does for the same outcome (denied here).
    const waiting = stack.keyhole(
      [
        "run",
        "process-info",
        "--selector",
        "app=shop",
        "--reason",
        "issue-19 wait deny",
        "--wait",
        "--timeout",
        "60",
      ],
      stack.as("alice"),
      60_000,
    );
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      const listed = await api("bob", "GET", "/v1/collections?status=pending");
      const { collections } = (await listed.json()) as { collections: { id: string; reason: string }[] };
      id = collections.find((c) => c.reason === "issue-19 wait deny")?.id;
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    expect(id).toBeDefined();
    await api("bob", "POST", `/v1/collections/${id}/deny`, { reason: "not now" });
    const waited = await waiting;
    const shown = await stack.keyhole(["collection", id!], stack.as("alice"));
    expect([shown.code, shown.stderr.match(/KH_[A-Z_]+|denied by/)?.[0]]).toEqual([
      waited.code,
      waited.stderr.match(/KH_[A-Z_]+|denied by/)?.[0],
    ]);
    expect(waited.code).toBe(1);
  }, 120_000);

  it("completes commands, subcommands and flags in bash from the program's own commands", async () => {
    const script = await stack.keyhole(["completion", "bash"]);
    expect(script.code, script.stderr).toBe(0);
    const file = stack.write("keyhole.bash", script.stdout);
    /** What bash's completion function offers for `line` (the word under the cursor is its last). */
    const complete = async (lines: string[]) => {
      const probe = lines
        .map(
          (line) =>
            `read -ra COMP_WORDS <<< ${JSON.stringify(line)}; ${line.endsWith(" ") ? "COMP_WORDS+=(''); " : ""}COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); COMPREPLY=(); _keyhole; echo "\${COMPREPLY[*]}"`,
        )
        .join("\n");
      const ran = await shell(`source "$F"\ncomplete -p keyhole\n${probe}`, { F: file });
      expect(ran.code, ran.stderr).toBe(0);
      const [registered, ...answers] = ran.stdout.split("\n");
      expect(registered).toBe("complete -o filenames -F _keyhole keyhole");
      return answers;
    };
    // Every command path and its long options, read from commander independently of the script.
    const paths: { words: string; subs: string[]; flags: string[] }[] = [];
    const walk = (command: Command, words: string) => {
      const subs = command.commands.map((c) => c.name());
      const flags = command.options.map((o) => o.long).filter((f): f is string => Boolean(f));
      paths.push({ words, subs, flags });
      for (const sub of command.commands) walk(sub, `${words}${sub.name()} `);
    };
    walk(buildProgram({}), "keyhole ");
    expect(paths.length).toBeGreaterThan(30);
    const lines = paths.flatMap((p) => [p.words, `${p.words}--`]);
    const answers = await complete(lines);
    paths.forEach((p, i) => {
      const subs = answers[2 * i]!.split(" ").filter(Boolean);
      const flags = answers[2 * i + 1]!.split(" ");
      if (p.subs.length > 0) expect(subs.sort(), p.words).toEqual([...p.subs].sort());
      for (const flag of p.flags) expect(flags, `${p.words}${flag}`).toContain(flag);
    });
    // Partial words, and options with values in between.
    expect(
      await complete([
        "keyhole to",
        "keyhole audit ex",
        "keyhole run env --target x --re",
        "keyhole token issue --sub",
      ]),
    ).toEqual(["token", "export", "--reason", "--subject", ""]);
    // zsh: the same tables, and a function compsys can load.
    const zsh = await stack.keyhole(["completion", "zsh"]);
    expect(zsh.stdout.split("\n")[0]).toBe("#compdef keyhole");
    for (const p of paths.slice(1))
      expect(zsh.stdout, p.words).toContain(`"${p.words.trim().replace(/^keyhole /, "")}") printf '%s' "`);
  });
});
