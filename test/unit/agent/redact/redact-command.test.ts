/**
 * `keyhole redact` through the real CLI: a child process (no shell) with stdin piped.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KEYHOLE_BIN } from "../../../../cli/demo/processes.js";
import { expand, KEY } from "./samples.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `keyhole …args` with `input` on stdin. */
async function redact(args: readonly string[], input: string | Buffer[]): Promise<Run> {
  const child = spawn(process.execPath, [KEYHOLE_BIN, "redact", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000).unref();
  // Written in pieces, split mid-line and mid-character, as a pipe would deliver them.
  for (const piece of typeof input === "string" ? [input] : input) {
    if (!child.stdin.write(piece)) await once(child.stdin, "drain");
  }
  child.stdin.end();
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), "keyhole-redact-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("keyhole redact", () => {
  const token = expand("ghp_{alnum:36}", 11);
  const input = [
    "2024-05-01 INFO start",
    `deploy with ${token}`,
    "",
    "db postgres://app:s3cr3t-pass-1@db:5432/app",
    "-----BEGIN PRIVATE KEY-----",
    expand("{b64:64}", 1),
    expand("{b64:12}", 2),
    "-----END PRIVATE KEY-----",
    "café ✓ done\r",
    "no newline at the end",
  ].join("\n");

  it("masks text on stdin to stdout, keeping every line and line break", async () => {
    const run = await redact([], input);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/random key/);
    const lines = run.stdout.split("\n");
    expect(lines).toHaveLength(input.split("\n").length);
    expect(run.stdout).not.toContain(token);
    expect(run.stdout).not.toContain("s3cr3t-pass-1");
    expect(lines[0]).toBe("2024-05-01 INFO start");
    expect(lines[1]).toMatch(/^deploy with ⟦masked:github-token:[0-9a-f]{12}⟧$/);
    expect(lines[3]).toMatch(/^db postgres:\/\/app:⟦masked:url-credentials:[0-9a-f]{12}⟧@db:5432\/app$/);
    // Masked as a block, as the agent masks a log tail (issue 17, attacker's finding L9): the key's
    // body is one marker after the armour, its line breaks kept.
    expect(lines[4]).toMatch(/^-----BEGIN PRIVATE KEY-----⟦masked:pem-private-key:[0-9a-f]{12}⟧$/);
    expect(lines[5]).toBe("");
    expect(lines[6]).toBe("");
    expect(lines[7]).toBe("-----END PRIVATE KEY-----");
    expect(lines[8]).toBe("café ✓ done\r");
    expect(lines[9]).toBe("no newline at the end");
  });

  it("issue 17 attack L9: reads the structures that span lines, as the agent does", async () => {
    const secret = expand("{alnum:10}{digit:2}{upper:2}", 3);
    const run = await redact(
      [],
      [
        "    - name: DB_PASSWORD",
        `      value: ${secret}`,
        "password: |",
        `  ${secret}`,
        "| user | password |",
        "|---|---|",
        `| bob | ${secret} |`,
        "",
      ].join("\n"),
    );
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain(secret);
    expect(run.stdout.split("\n")).toHaveLength(8);
    expect(run.stdout).toContain("    - name: DB_PASSWORD\n");
  });

  it("streams input split anywhere (mid-line, mid-character)", async () => {
    const bytes = Buffer.from(input);
    const pieces = [
      bytes.subarray(0, 7),
      bytes.subarray(7, 40),
      bytes.subarray(40, bytes.indexOf("✓") + 1),
      bytes.subarray(bytes.indexOf("✓") + 1),
    ];
    const whole = await redact(["--fingerprint-key-file", join(dir, "k")], input).catch(() => undefined);
    expect(whole?.code).toBe(1);
    writeFileSync(join(dir, "key"), KEY);
    const a = await redact(["--fingerprint-key-file", join(dir, "key")], input);
    const b = await redact(["--fingerprint-key-file", join(dir, "key")], pieces);
    expect(a.stderr).toBe("");
    expect(b.stdout).toBe(a.stdout);
  });

  it("--format env masks NAME=value lines through the env rules, and their values further down", async () => {
    writeFileSync(join(dir, "key"), KEY);
    const env =
      "HOME=/home/app\nDB_PASSWORD=plain-looking-pw\nPASSWORD_MIN_LENGTH=12\nnote: plain-looking-pw reused\n";
    const run = await redact(["--format", "env", "--fingerprint-key-file", join(dir, "key"), "--stats"], env);
    expect(run.code).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toBe("HOME=/home/app");
    expect(lines[1]).toMatch(/^DB_PASSWORD=⟦masked:secret-name:[0-9a-f]{12}⟧$/);
    expect(lines[2]).toBe("PASSWORD_MIN_LENGTH=12");
    expect(lines[3]).toMatch(/^note: ⟦masked:known-value:[0-9a-f]{12}⟧ reused$/);
    expect(JSON.parse(run.stderr)).toEqual({ masked: { "secret-name": 1, "known-value": 1 } });
  });

  it("refuses an unknown format with exit code 2", async () => {
    const run = await redact(["--format", "yaml"], "");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--format/);
  });
});
