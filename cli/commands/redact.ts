/**
 * `keyhole redact [--format text|env]`: masks stdin to stdout with the engine the agent uses.
 * Streams line by line (memory stays flat whatever the input size) and keeps every line break
 * as it was, so the output has exactly as many lines as the input.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { type CountingRedactor, createLineMasker, createRedactor } from "../../agent/redact/index.js";
import { CliError, usageError } from "../errors.js";
import { note } from "../output.js";

const FORMATS = ["text", "env"] as const;
type Format = (typeof FORMATS)[number];

/** `NAME=value` of an env listing (`env`, `printenv`, a .env file). */
const ENV_LINE = /^(?<name>[A-Za-z_][A-Za-z0-9_.-]{0,255})=(?<value>[\s\S]*)$/;

async function fingerprintKey(file: string | undefined): Promise<Uint8Array> {
  if (file === undefined) {
    note(
      "keyhole redact: no --fingerprint-key-file, using a random key: fingerprints match only within this run",
    );
    return randomBytes(32);
  }
  let key: Buffer;
  try {
    key = await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read the fingerprint key file ${file}`, 1, undefined, { cause: err });
  }
  if (key.length === 0) throw usageError(`the fingerprint key file ${file} is empty`);
  return key;
}

/** Masks one line (without its line break) in the chosen format. */
function lineMasker(redactor: CountingRedactor, format: Format): (line: string) => string {
  const text = createLineMasker(redactor);
  if (format === "text") return text;
  return (line) => {
    const cr = line.endsWith("\r") ? "\r" : "";
    const pair = ENV_LINE.exec(cr ? line.slice(0, -1) : line)?.groups;
    if (!pair?.name || pair.value === undefined) return text(line);
    const masked = redactor.maskEnv(pair.name, pair.value);
    // Like the env action: a masked value is masked wherever it reappears further down.
    if (masked.masked) redactor.remember(pair.value);
    return `${pair.name}=${masked.value}${cr}`;
  };
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, "drain");
}

/** Streams stdin through `mask` line by line to stdout. */
async function pipeLines(mask: (line: string) => string): Promise<void> {
  process.stdin.setEncoding("utf8");
  let pending = "";
  for await (const chunk of process.stdin as AsyncIterable<string>) {
    pending += chunk;
    const lastBreak = pending.lastIndexOf("\n");
    if (lastBreak < 0) continue;
    const lines = pending.slice(0, lastBreak).split("\n");
    pending = pending.slice(lastBreak + 1);
    await write(`${lines.map(mask).join("\n")}\n`);
  }
  if (pending !== "") await write(mask(pending));
}

/** Registers `keyhole redact`. */
export function registerRedactCommand(program: Command): void {
  program
    .command("redact")
    .description("mask secrets in stdin and write the result to stdout (same engine as the agent)")
    .option("--format <format>", "text (free text) or env (NAME=value lines)", "text")
    .option("--fingerprint-key-file <file>", "HMAC key of the markers' fingerprints (default: a random key)")
    .option("--stats", "print how many values each rule masked, as JSON on stderr")
    .action(async (opts: { format: string; fingerprintKeyFile?: string; stats?: boolean }) => {
      if (!FORMATS.includes(opts.format as Format)) {
        throw usageError(`--format must be one of ${FORMATS.join(", ")}, not ${opts.format}`);
      }
      const redactor = createRedactor({
        fingerprintKey: await fingerprintKey(opts.fingerprintKeyFile),
      }).counting();
      await pipeLines(lineMasker(redactor, opts.format as Format));
      if (opts.stats) process.stderr.write(`${JSON.stringify({ masked: redactor.counts() })}\n`);
    });
}
