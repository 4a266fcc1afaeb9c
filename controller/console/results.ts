/**
 * A request's result as people read it: the environment as a table with masked values marked, a log
 * tail with masked spans highlighted, anything else as indented JSON. All of it is the agent's output,
 * so all of it goes through the escaping template.
 */

import { withMarks } from "./format.js";
import { type Html, html } from "./html.js";

interface EnvVariable {
  name: string;
  value: string;
  masked?: boolean;
  rule?: string;
}

function isEnv(value: unknown): value is { variables: EnvVariable[]; maskedCount?: number } {
  const v = value as { variables?: unknown };
  return (
    Array.isArray(v?.variables) &&
    v.variables.every(
      (x) => typeof (x as EnvVariable)?.name === "string" && typeof (x as EnvVariable)?.value === "string",
    )
  );
}

function isLogTail(value: unknown): value is { file?: string; lines: string[]; truncatedLines?: number } {
  const v = value as { lines?: unknown };
  return Array.isArray(v?.lines) && v.lines.every((l) => typeof l === "string");
}

/** Renders the stored result of a request (the agent's answer envelope, `{ result, masked, … }`). */
export function renderResult(stored: unknown): Html {
  const answer = stored as { result?: unknown; masked?: Record<string, number>; durationMs?: number };
  const inner = answer && typeof answer === "object" && "result" in answer ? answer.result : stored;
  const masked = answer?.masked && typeof answer.masked === "object" ? Object.entries(answer.masked) : [];
  const summary = masked.length
    ? html`<p>Masked by the agent: ${masked.map(([rule, n], i) => html`${i ? ", " : ""}<mark>${rule}</mark> ×${n}`)}</p>`
    : "";
  if (isEnv(inner)) {
    return html`${summary}<div class="table-wrap"><table><caption class="muted">Environment of the target (masked values are marked)</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Value</th><th scope="col">Masked</th></tr></thead><tbody>
${inner.variables.map(
  (v) =>
    html`<tr><td>${v.name}</td><td>${withMarks(v.value)}</td><td>${v.masked ? html`<mark>yes${v.rule ? ` (${v.rule})` : ""}</mark>` : "no"}</td></tr>`,
)}</tbody></table></div>`;
  }
  if (isLogTail(inner)) {
    return html`${summary}<p class="muted">${inner.file ?? ""} — last ${inner.lines.length} line(s)${inner.truncatedLines ? `, ${inner.truncatedLines} cut short` : ""}; masked spans are highlighted</p>
<pre>${inner.lines.map((line, i) => html`${i ? "\n" : ""}${withMarks(line)}`)}</pre>`;
  }
  return html`${summary}<pre>${withMarks(JSON.stringify(inner, null, 2) ?? "")}</pre>`;
}
