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

export function requestsTable(requests: readonly RequestView[]): string {
  if (requests.length === 0) return "no requests";
  return table([
    ["ID", "STATUS", "ACTION", "TARGET", "SUBJECT", "CREATED"],
    ...requests.map((r) => [r.id, r.status, r.action, r.target, r.subject, r.createdAt]),
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
