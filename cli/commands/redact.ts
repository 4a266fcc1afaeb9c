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

/** Lines kept back for the next block: a structure whose value is on a later line (`- name:` then `value:`). */
const CARRY_LINES = 8;
/** Lines a block holds at most before it is masked (a private key block kept whole up to its END). */
const BLOCK_LINES = 4000;
const MAX_OPEN_BLOCK_LINES = 1024;
/** How long input may pause before what is buffered is masked and written (a `tail -f`). */
const IDLE_MS = 100;
const PRIVATE_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;
const PRIVATE_END = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;

/** The index of the line that opens a private key block left open at the end of `lines`, or -1. */
function openBlockStart(lines: readonly string[]): number {
  for (let i = lines.length - 1; i >= 0 && lines.length - i <= MAX_OPEN_BLOCK_LINES; i--) {
    if (PRIVATE_END.test(lines[i]!)) return -1;
    if (PRIVATE_BEGIN.test(lines[i]!)) return i;
  }
  return -1;
}

/**
 * Streams stdin through the text engine in blocks of lines, as `log-tail` masks its window: the
 * rules that read a structure over several lines (a pod spec's `name:`/`value:`, a YAML block, a
 * table, a PEM block) see it whole. Each block keeps its last lines back for the next one, a
 * private key block is kept whole up to its END, and a pause in the input writes what is buffered
 * (attacker's pass on issue 17, finding L9: masked line by line, `keyhole redact` did not run the
 * structures the agent runs).
 */
async function pipeBlocks(redactor: CountingRedactor): Promise<void> {
  process.stdin.setEncoding("utf8");
  let pending = "";
  let lines: string[] = [];
  const flush = async (final: boolean): Promise<void> => {
    if (lines.length === 0) return;
    const open = openBlockStart(lines);
    let keep = final ? 0 : Math.min(lines.length, CARRY_LINES);
    if (!final && open >= 0) keep = Math.max(keep, lines.length - open);
    if (keep >= lines.length && !final) return;
    const masked = redactor.maskText(lines.join("\n")).split("\n");
    const emit = masked.slice(0, masked.length - keep);
    lines = lines.slice(lines.length - keep);
    await write(`${emit.join("\n")}\n`);
  };
  const stdin = process.stdin[Symbol.asyncIterator]() as AsyncIterator<string>;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<"idle">((resolve) => {
      timer = setTimeout(() => resolve("idle"), IDLE_MS);
    });
    const next = stdin.next();
    let result = await Promise.race([next, idle]);
    if (result === "idle") {
      // A pause: write what is buffered, except a private key block still open.
      if (lines.length > 0 && openBlockStart(lines) < 0) {
        const all = lines;
        lines = [];
        await write(`${redactor.maskText(all.join("\n"))}\n`);
      }
      result = await next;
    }
    clearTimeout(timer);
    if (result.done) break;
    pending += result.value;
    const lastBreak = pending.lastIndexOf("\n");
    if (lastBreak < 0) continue;
    lines.push(...pending.slice(0, lastBreak).split("\n"));
    pending = pending.slice(lastBreak + 1);
    if (lines.length >= BLOCK_LINES) await flush(false);
  }
  if (pending !== "") {
    lines.push(pending);
    const masked = redactor.maskText(lines.join("\n"));
    lines = [];
    await write(masked);
    return;
  }
  await flush(true);
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
      if (opts.format === "text") await pipeBlocks(redactor);
      else await pipeLines(lineMasker(redactor, opts.format as Format));
      if (opts.stats) process.stderr.write(`${JSON.stringify({ masked: redactor.counts() })}\n`);
    });
}
