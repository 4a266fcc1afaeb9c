/**
 * Masking a Node diagnostic report (`process.report.getReport()`): environment values by their
 * names' rules, the command line argument by argument, and every other string as free text
 * (library paths, headers, a JavaScript stack, a URL with a token). Keys are kept.
 */
import type { Redactor } from "../../redact/index.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function maskStrings(value: Json, redactor: Redactor): Json {
  if (typeof value === "string") return redactor.maskText(value);
  if (Array.isArray(value)) return value.map((v) => maskStrings(v, redactor));
  if (value !== null && typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskStrings(v, redactor);
    return out;
  }
  return value;
}

/**
 * Returns a masked copy of `report`. Masked environment values are remembered by the redactor
 * first, so the same secret is masked wherever else it appears in the report.
 */
export function maskDiagnosticReport(
  report: Record<string, unknown>,
  redactor: Redactor,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const env = report.environmentVariables;
  if (env && typeof env === "object" && !Array.isArray(env)) {
    const masked: Record<string, string> = {};
    for (const [name, raw] of Object.entries(env as Record<string, unknown>)) {
      const value = typeof raw === "string" ? raw : String(raw);
      const result = redactor.maskEnv(name, value);
      if (result.masked) redactor.remember(value);
      masked[name] = result.value;
    }
    out.environmentVariables = masked;
  }
  for (const [key, value] of Object.entries(report)) {
    if (key === "environmentVariables") continue;
    if (key === "header" && value && typeof value === "object" && !Array.isArray(value)) {
      const header = value as Record<string, Json>;
      const maskedHeader = maskStrings(header, redactor) as Record<string, Json>;
      if (Array.isArray(header.commandLine)) {
        maskedHeader.commandLine = redactor.maskArgv(header.commandLine.map(String));
      }
      out.header = maskedHeader;
      continue;
    }
    out[key] = maskStrings(value as Json, redactor);
  }
  return out;
}
