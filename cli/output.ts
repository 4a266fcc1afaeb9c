/**
 * Printing for humans and for scripts (`--json`): one JSON document on stdout, nothing else there.
 *
 * Human output carries text others wrote (log lines, reasons, tickets, agents' error messages,
 * labels), so it never reaches the terminal raw (attack F2, docs/threat-model.md): `printLine` and
 * `note` escape every control and invisible character but line feeds and tabs, and `table` escapes
 * those too, cell by cell, so a value cannot add a row or shift a column. Renderers of single-line
 * text from data use `oneLine`. `printJson` is exact JSON and is left alone.
 */
import { safeText } from "../common/safe-text.js";
import { markJsonPrinted } from "./json-output.js";

export interface OutputOptions {
  json?: boolean;
}

/** Multi-line output: line feeds and tabs stay, everything a terminal would act on is escaped. */
const MULTI_LINE = { newlines: true, tabs: true } as const;

/** Text from data shown on one line: line feeds, tabs and every control or invisible character escaped. */
export function oneLine(text: string): string {
  return safeText(text);
}

/** One line of a log file: its tabs stay, everything else is as in `oneLine`. */
export function logLine(text: string): string {
  return safeText(text, { tabs: true });
}

/** Text from data shown over several lines: only line feeds and tabs stay as they are. */
export function multiLine(text: string): string {
  return safeText(text, MULTI_LINE);
}

export function printJson(value: unknown): void {
  markJsonPrinted();
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text = ""): void {
  process.stdout.write(`${multiLine(text)}\n`);
}

/** Progress and hints go to stderr, so stdout stays the result even without --json. */
export function note(text: string): void {
  process.stderr.write(`${multiLine(text)}\n`);
}

/** Renders rows as aligned columns; each cell is shown on one line (`oneLine`). */
export function table(rows: readonly (readonly string[])[]): string {
  const shown = rows.map((row) => row.map(oneLine));
  const widths: number[] = [];
  for (const row of shown) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return shown
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "))
    .join("\n");
}
