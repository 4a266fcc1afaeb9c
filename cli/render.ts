/**
 * Human renderings of requests and action results; `--json` bypasses all of this. Every value from
 * the controller or an agent is shown through `oneLine` (or `table`, which does it per cell): a log
 * line, an env value or a target name cannot move the cursor, clear the screen or add a line.
 */
import type { RequestView } from "./client.js";
import { logLine, oneLine, table } from "./output.js";

export function requestSummary(r: RequestView): string {
  const approvals = r.breakGlass
    ? ", BREAK-GLASS: no approval, review pending"
    : r.approvalsRequired > 0
      ? `, approvals ${r.approvals.length}/${r.approvalsRequired}`
      : "";
  return oneLine(`request ${r.id} ${r.status}: ${r.action} on ${r.target} (${r.environment}${approvals})`);
}

/** Params as `k=v` pairs; a heap snapshot without masking says so in capitals. */
export function paramsText(params: Readonly<Record<string, unknown>>): string {
  const entries = Object.entries(params);
  if (entries.length === 0) return "-";
  return entries
    .map(([k, v]) =>
      k === "redact" && v === false
        ? "REDACT=FALSE(raw memory)"
        : `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`,
    )
    .join(" ");
}

/** "in 12m" / "3m ago" from an ISO time. */
export function relativeTime(isoTime: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(isoTime) - now) / 1000);
  const abs = Math.abs(seconds);
  const text =
    abs < 90
      ? `${abs}s`
      : abs < 5400
        ? `${Math.round(abs / 60)}m`
        : abs < 129_600
          ? `${Math.round(abs / 3600)}h`
          : `${Math.round(abs / 86_400)}d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function approvalsText(r: RequestView): string {
  if (r.breakGlass) return "break-glass";
  const who = r.approvals.map((a) => a.subject.replace(/^user:/, "")).join(",");
  return `${r.approvals.length}/${r.approvalsRequired}${who ? ` ${who}` : ""}`;
}

/** Reasons are cut so a row stays a row; `status ID` shows them whole. */
function short(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function requestsTable(requests: readonly RequestView[], now = Date.now()): string {
  if (requests.length === 0) return "no requests";
  return table([
    ["ID", "STATUS", "ACTION", "TARGET", "REQUESTER", "REASON", "TICKET", "PARAMS", "EXPIRES", "APPROVALS"],
    ...requests.map((r) => [
      r.id,
      r.status,
      r.action,
      r.target,
      r.subject,
      short(r.reason),
      r.ticket ?? "-",
      paramsText(r.params),
      r.status === "pending" ? relativeTime(r.expiresAt, now) : "-",
      approvalsText(r),
    ]),
  ]);
}

/** Everything an approver must see about one request, one fact a line (`status`, `approve`). */
export function requestDetails(r: RequestView, now = Date.now()): string {
  return table([
    ["requester:", r.subject],
    ["action:", r.action],
    ["params:", paramsText(r.params)],
    ["target:", `${r.target} (${r.environment})`],
    ["reason:", r.reason],
    ["ticket:", r.ticket ?? "-"],
    [
      r.status === "pending" ? "expires:" : "filed:",
      r.status === "pending" ? `${r.expiresAt} (${relativeTime(r.expiresAt, now)})` : r.createdAt,
    ],
    [
      "approvals:",
      `${r.approvals.length}/${r.approvalsRequired}${r.approvals.length ? ` (${r.approvals.map((a) => a.subject).join(", ")})` : ""}`,
    ],
    ...(r.denial ? [["denied:", `by ${r.denial.by}: ${r.denial.reason}`]] : []),
  ]);
}

interface EnvVariable {
  name: string;
  value: string;
  masked: boolean;
}

function isEnvResult(action: string, result: unknown): result is { variables: EnvVariable[] } {
  return action === "env" && Array.isArray((result as { variables?: unknown } | null)?.variables);
}

function isLogTailResult(action: string, result: unknown): result is { file: string; lines: string[] } {
  return action === "log-tail" && Array.isArray((result as { lines?: unknown } | null)?.lines);
}

interface ArtifactSummary {
  id: string;
  filename: string;
  size: number;
  sha256: string;
}

function isArtifactResult(result: unknown): result is { artifact: ArtifactSummary } {
  const artifact = (result as { artifact?: Partial<ArtifactSummary> } | null)?.artifact;
  return typeof artifact?.id === "string" && typeof artifact.sha256 === "string";
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The `result` part of an inline answer, in a form a person reads at a glance. */
export function renderResult(action: string, result: unknown): string {
  if (isEnvResult(action, result)) {
    return result.variables.map((v) => oneLine(`${v.name}=${v.value}`)).join("\n");
  }
  if (isLogTailResult(action, result)) {
    // The lines as the file has them (masked; tabs kept, CR and ESC escaped), then the facts.
    const { lines, ...facts } = result;
    return [...lines.map((line) => logLine(String(line))), "", renderResult("", facts)].join("\n");
  }
  if (isArtifactResult(result)) {
    const { artifact } = result;
    return table([
      ["artifact:", artifact.id],
      ["file:", artifact.filename],
      ["size:", mebibytes(artifact.size)],
      ["sha256:", artifact.sha256],
    ]);
  }
  if (isPlainRecord(result)) {
    return table(
      Object.entries(result).map(([key, value]) => [
        `${key}:`,
        typeof value === "string" ? value : JSON.stringify(value),
      ]),
    );
  }
  return JSON.stringify(result, null, 2);
}

/** The agent's result envelope stored by the controller: `{result: …}` inside the inline answer. */
export function actionResultOf(request: RequestView): unknown {
  const stored = request.result;
  if (isPlainRecord(stored) && "result" in stored) return stored.result;
  return stored;
}
