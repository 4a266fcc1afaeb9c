/**
 * Attack F2 (issue 16): text an attacker controls reached the operator's terminal raw through the
 * `keyhole` CLI's human output: escape sequences (clear screen, cursor movement over earlier lines,
 * OSC 8 hyperlinks), CR overprinting, bidi overrides. Attacked as it was found, with real processes:
 * a workload whose log and environment carry them, agents and a controller on loopback, and the
 * built `keyhole` executable showing a log tail, an environment, the break-glass review listing, a
 * denial and the evidence report (where a `|` and a newline in a reason broke the Markdown table).
 * Human output shows each such character as a visible escape; `--json` stays exact.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Stack } from "../helpers/stack.js";

const ESC = "\x1b";
/** Clears the screen, moves the cursor to the top, and overprints with CR. */
const CLEAR = `${ESC}[2J${ESC}[H`;
/** An OSC 8 hyperlink whose visible text hides its target. */
const LINK = `${ESC}]8;;https://evil.example/${ESC}\\docs${ESC}]8;;${ESC}\\`;
/** Right-to-left override: "approved" is stored as "devorppa" and shown reversed. */
const RLO = "\u202E";

/** Raw characters a terminal acts on or a reader cannot see (tab and newline aside). */
const RAW = /(?![\t\n])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

const LOG_LINES = [
  "2026-12-01T10:00:00Z info ok\tfirst line",
  `2026-12-01T10:00:01Z info ${CLEAR}all clear, nothing happened`,
  `2026-12-01T10:00:02Z info see ${LINK}`,
  "2026-12-01T10:00:03Z error disk failing\r2026-12-01T10:00:03Z info all good    ",
  `2026-12-01T10:00:04Z info ${RLO}devorppa`,
];

const stack = new Stack("attack-f2");
const keyhole = (args: string[], who: string) => stack.keyhole(args, stack.as(who));
let logFile: string;

beforeAll(async () => {
  logFile = stack.write("app.log", `${LOG_LINES.join("\n")}\n`);
  await stack.start({
    workload: { BANNER: `hello${CLEAR}${RLO}dlrow` },
    agents: ["staging", "production"].map((environment) => ({
      id: `${environment}/shop/shop-0`,
      environment,
      actions: ["env", "log-tail"],
      env: { KEYHOLE_LOG_ROOT: stack.dir },
    })),
    policy: [
      "environments:",
      "  production: { approvals: 1, maxTtlSeconds: 120, breakGlass: true }",
      "  staging: { approvals: 0 }",
      "roles:",
      '  sre: { actions: ["*"] }',
      "bindings:",
      '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
      "",
    ].join("\n"),
    tokens: {
      alice: { subject: "user:alice@example.com", groups: ["sre"] },
      bob: { subject: "user:bob@example.com", groups: ["sre"] },
    },
    controller: {},
  });
}, 60_000);

afterAll(() => stack.stop());

describe("attack F2: untrusted text in the CLI's human output", () => {
  it("attack F2: run log-tail --wait shows escape sequences, CR and bidi as visible escapes; --json is exact", async () => {
    const args = ["run", "log-tail", "--target", "staging/shop/shop-0"];
    const params = ["--param", `file=${logFile}`, "--param", "lines=10"];
    const shown = await keyhole([...args, ...params, "--reason", "F2", "--wait"], "alice");
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toMatch(RAW);
    expect(shown.stdout).toContain("\\x1b[2J\\x1b[Hall clear, nothing happened");
    expect(shown.stdout).toContain("see \\x1b]8;;https://evil.example/\\x1b\\docs\\x1b]8;;\\x1b\\");
    expect(shown.stdout).toContain("disk failing\\r2026-12-01T10:00:03Z info all good");
    expect(shown.stdout).toContain("info \\u{202e}devorppa");
    // A log line keeps its tabs, and each line stays one line.
    expect(shown.stdout).toContain("ok\tfirst line\n");

    const json = await keyhole([...args, ...params, "--reason", "F2", "--wait", "--json"], "alice");
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).request.result.result.lines).toEqual(LOG_LINES);
    expect(json.stdout).toContain("\\u001b[2J");
  });

  it("attack F2: run env --wait shows a value's escape sequences and bidi override escaped, on its line", async () => {
    const shown = await keyhole(
      ["run", "env", "--target", "staging/shop/shop-0", "--reason", "F2", "--wait"],
      "alice",
    );
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toMatch(RAW);
    expect(shown.stdout).toContain("BANNER=hello\\x1b[2J\\x1b[H\\u{202e}dlrow\n");
  });

  it("attack F2: the break-glass review listing shows a ticket's escapes, and a newline cannot add a row", async () => {
    const ticket = `INC-7${CLEAR}\nrv-fake  closed  user:carol@example.com${RLO}`;
    const used = await keyhole(
      [
        "run",
        "env",
        "--target",
        "production/shop/shop-0",
        "--reason",
        "F2 break-glass",
        "--ticket",
        ticket,
        "--break-glass",
      ],
      "alice",
    );
    expect(used.code, used.stderr).toBe(0);
    expect(used.stdout + used.stderr).not.toMatch(RAW);
    const listed = await keyhole(["reviews"], "bob");
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toMatch(RAW);
    expect(listed.stdout).toContain(
      "INC-7\\x1b[2J\\x1b[H\\nrv-fake  closed  user:carol@example.com\\u{202e}",
    );
    // The header and one review: the ticket's newline is no row of its own.
    expect(listed.stdout.trimEnd().split("\n")).toHaveLength(2);
    const json = await keyhole(["reviews", "--json"], "bob");
    expect(JSON.parse(json.stdout).reviews[0].ticket).toBe(ticket);
  });

  it("attack F2: a denial's reason reaches the requester's stderr as one escaped line", async () => {
    const asked = await keyhole(
      ["run", "env", "--target", "production/shop/shop-0", "--reason", "F2 denial", "--json"],
      "alice",
    );
    expect(asked.code, asked.stderr).toBe(0);
    const { id } = JSON.parse(asked.stdout).request;
    const reason = `no${CLEAR}\nkeyhole: request ${id} completed${LINK}`;
    const denied = await keyhole(["deny", id, "--reason", reason], "bob");
    expect(denied.code, denied.stderr).toBe(0);
    const status = await keyhole(["status", id, "--wait"], "alice");
    expect(status.code).toBe(1);
    expect(status.stderr).not.toMatch(RAW);
    expect(status.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(status.stderr).toContain(
      `denied by user:bob@example.com: no\\x1b[2J\\x1b[H\\nkeyhole: request ${id} completed\\x1b]8;;`,
    );
  });

  it("attack F2: the Markdown report keeps its table when a reason holds | and a newline, and shows escapes", async () => {
    const reason = `INC-8 | approved by CISO\\|\n| 2026-01-01 | user:carol@example.com | x |${CLEAR}`;
    const used = await keyhole(
      [
        "run",
        "env",
        "--target",
        "production/shop/shop-0",
        "--reason",
        reason,
        "--ticket",
        "INC-8|9",
        "--break-glass",
        "--json",
      ],
      // Not alice: her break-glass use in the review test starts a cooldown.
      "bob",
    );
    expect(used.code, used.stderr).toBe(0);
    const out = stack.path("report.md");
    const report = await stack.keyhole(["report", "--data-dir", stack.dir, "--out", out]);
    // 3: the chain is consistent but no key was pinned; the report is written either way.
    expect([0, 3], report.stderr).toContain(report.code);
    const markdown = await readFile(out, "utf8");
    const json = await stack.keyhole(["report", "--data-dir", stack.dir, "--format", "json"]);
    const uses: number = JSON.parse(json.stdout).totals.breakGlass;
    expect(uses).toBeGreaterThanOrEqual(1);
    const section = markdown.split("## Break-glass uses and their reviews\n")[1]!.split("\n## ")[0]!;
    const rows = section.split("\n").filter((line) => line.startsWith("|"));
    // The header, the separator, and one row per break-glass use: no row made of a reason's newline.
    expect(rows).toHaveLength(2 + uses);
    for (const row of rows) expect(cells(row)).toHaveLength(7);
    const row = rows.find((r) => r.includes("INC-8"))!;
    expect(cells(row)[4]).toBe("INC-8\\|9");
    expect(cells(row)[5]).toBe(
      "INC-8 \\| approved by CISO\\\\\\|\\\\n\\| 2026-01-01 \\| user:carol@example.com \\| x \\|\\\\x1b[2J\\\\x1b[H",
    );
    expect(markdown).not.toMatch(RAW);
  });
});

/** A Markdown table row's cells, split on the pipes no backslash escapes. */
function cells(row: string): string[] {
  const found: string[] = [];
  let cell = "";
  for (let i = 1; i < row.length; i++) {
    const ch = row[i]!;
    if (ch === "\\") {
      cell += ch + (row[i + 1] ?? "");
      i++;
    } else if (ch === "|") {
      found.push(cell.trim());
      cell = "";
    } else cell += ch;
  }
  return found;
}
