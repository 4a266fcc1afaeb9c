/** Small renderers the console's pages share: times, statuses, params, masked text. */
import { type Html, html, join } from "./html.js";

export const iso = (ms: number) => new Date(ms).toISOString();

/** "in 4 min" / "3 h ago", for a time relative to `now`. */
export function relative(ms: number, now: number): string {
  const delta = Math.round((ms - now) / 1000);
  const abs = Math.abs(delta);
  const text =
    abs < 90
      ? `${abs} s`
      : abs < 90 * 60
        ? `${Math.round(abs / 60)} min`
        : abs < 36 * 3600
          ? `${Math.round(abs / 3600)} h`
          : `${Math.round(abs / 86400)} d`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

/** A time for people: relative, with the exact UTC time in a <time> element. */
export function when(ms: number, now: number): Html {
  return html`<time datetime="${iso(ms)}" title="${iso(ms)}">${relative(ms, now)}</time> <span class="muted">(${iso(ms).replace("T", " ").slice(0, 19)} UTC)</span>`;
}

export function statusBadge(status: string): Html {
  return html`<span class="status status-${/^[a-z-]+$/.test(status) ? status : "other"}">${status}</span>`;
}

/**
 * Whether a param widens what the request exposes beyond the default, so an approver notices it:
 * a heap snapshot (or any action) with `redact: false`.
 */
function risky(name: string, value: unknown): boolean {
  return name === "redact" && value === false;
}

/** The params as `name: value` chips; risky ones stand out (and say why, for screen readers too). */
export function paramList(params: Readonly<Record<string, unknown>>): Html {
  const entries = Object.entries(params);
  if (entries.length === 0) return html`<span class="muted">none (defaults)</span>`;
  return html`<ul class="params">${entries.map(([name, value]) =>
    risky(name, value)
      ? html`<li class="risky">${name}: ${JSON.stringify(value)} <span>(unmasked: raw memory, secrets included)</span></li>`
      : html`<li>${name}: ${JSON.stringify(value)}</li>`,
  )}</ul>`;
}

/** True when any param is one the approver must notice. */
export function hasRiskyParam(params: Readonly<Record<string, unknown>>): boolean {
  return Object.entries(params).some(([k, v]) => risky(k, v));
}

const MARKER = /⟦(?:masked|withheld):[^⟦⟧\n]{1,80}⟧/g;

/** Text with the agent's mask markers highlighted (`<mark>`); everything else escaped. */
export function withMarks(text: string): Html {
  const parts: Html[] = [];
  let at = 0;
  for (const match of text.matchAll(MARKER)) {
    parts.push(html`${text.slice(at, match.index)}`, html`<mark>${match[0]}</mark>`);
    at = match.index + match[0].length;
  }
  parts.push(html`${text.slice(at)}`);
  return join(parts);
}
