/**
 * The console's only static files, served by the controller itself (clusters here are air-gapped:
 * no CDN, no web font). Kept as strings so the build needs no copy step; each is served with its
 * SHA-256 as a long-lived, immutable URL.
 */
import { createHash } from "node:crypto";

const CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #57606a; --line: #d0d7de;
  --warn-bg: #fff1c2; --warn-fg: #5c3b00; --bad: #a40e26; --ok: #116329; --accent: #0a55c4; --card: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3; --line: #3d444d;
  --warn-bg: #4b3800; --warn-fg: #ffe08a; --bad: #ff8182; --ok: #6fdd8b; --accent: #79b8ff; --card: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible, summary:focus-visible {
  outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 1; }
header.top { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center; padding: 8px 12px; border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; margin-right: auto; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 12px; list-style: none; margin: 0; padding: 0; }
header.top nav a[aria-current="page"] { font-weight: 700; text-decoration: none; }
header.top form { margin: 0; }
main { padding: 12px; max-width: 1100px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: 8px 0 12px; } h2 { font-size: 1.15rem; margin: 20px 0 8px; }
.muted { color: var(--muted); }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin: 0 0 12px; background: var(--card); }
.card h2, .card h3 { margin-top: 0; font-size: 1.1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 8px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 480px) { dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: 6px; } }
.reason { white-space: pre-wrap; overflow-wrap: anywhere; }
.params { display: flex; flex-wrap: wrap; gap: 4px; list-style: none; padding: 0; margin: 0; }
.params li { font-family: ui-monospace, monospace; font-size: .9rem; border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; overflow-wrap: anywhere; }
.params li.risky, .flag { background: var(--warn-bg); color: var(--warn-fg); font-weight: 700; }
.flag { border-radius: 4px; padding: 0 6px; display: inline-block; }
.status { font-weight: 700; } .status-denied, .status-failed, .status-expired { color: var(--bad); } .status-completed { color: var(--ok); }
form.decide { display: grid; gap: 6px; margin: 8px 0 0; }
label { font-weight: 600; }
input[type=text], input[type=password], input[type=search], input[type=datetime-local], textarea, select {
  width: 100%; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
textarea { min-height: 3em; }
button { font: inherit; font-weight: 600; padding: 10px 16px; min-height: 44px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button.approve { background: #116329; border-color: #116329; color: #fff; }
button.deny { background: #a40e26; border-color: #a40e26; color: #fff; }
button.link { border: none; background: none; color: var(--accent); padding: 0; min-height: 0; text-decoration: underline; }
.actions { display: flex; flex-wrap: wrap; gap: 12px; }
.actions > details, .actions > form { flex: 1 1 280px; }
details > summary { cursor: pointer; padding: 10px 0; min-height: 44px; font-weight: 600; }
.notice { border-left: 4px solid var(--accent); padding: 6px 10px; margin: 0 0 12px; background: var(--card); }
.notice.error { border-color: var(--bad); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
pre { overflow-x: auto; background: var(--card); border: 1px solid var(--line); padding: 8px; border-radius: 6px; font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
mark { background: var(--warn-bg); color: var(--warn-fg); }
ol.timeline { list-style: none; padding: 0; margin: 0; border-left: 2px solid var(--line); }
ol.timeline li { padding: 2px 0 8px 12px; }
.grid-form { display: grid; gap: 8px; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); align-items: end; }
`;

/** Progressive enhancement only: every page works without it. */
const JS = `"use strict";
// After the identity provider's cross-site redirect, follow on at once: a navigation this page starts
// is same-site, so it carries the (SameSite=Strict) session cookie.
var follow = document.querySelector("a[data-follow]");
if (follow) window.location.replace(follow.getAttribute("href"));
// A form marked data-confirm asks first (deny, close). The server enforces everything regardless.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
`;

export interface Asset {
  readonly path: string;
  readonly body: string;
  readonly type: string;
}

function asset(name: string, ext: string, body: string, type: string): Asset {
  const digest = createHash("sha256").update(body).digest("hex").slice(0, 16);
  return { path: `/ui/assets/${name}.${digest}.${ext}`, body, type };
}

export const ASSETS = {
  css: asset("console", "css", CSS, "text/css; charset=utf-8"),
  js: asset("console", "js", JS, "text/javascript; charset=utf-8"),
} as const;
