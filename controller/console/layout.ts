/** The page shell every console page shares: nav, who is signed in, logout, the two assets. */
import type { Principal } from "../identity/principal.js";
import { ASSETS } from "./assets.js";
import { type Html, html } from "./html.js";

export type NavItem = "inbox" | "requests" | "reviews" | "audit" | "agents";

const NAV: readonly (readonly [NavItem, string, string])[] = [
  ["inbox", "/ui/inbox", "Inbox"],
  ["requests", "/ui/requests", "Requests"],
  ["reviews", "/ui/reviews", "Reviews"],
  ["audit", "/ui/audit", "Audit"],
  ["agents", "/ui/agents", "Agents"],
];

export interface PageOptions {
  readonly title: string;
  readonly body: Html;
  /** Signed in: the nav and the logout form (which carries the CSRF token). */
  readonly session?: { readonly principal: Principal; readonly csrf: string };
  readonly current?: NavItem;
  /** A one-line outcome of the last action (from the redirect's query), or an error. */
  readonly notice?: { readonly text: string; readonly error?: boolean } | undefined;
}

/** A whole HTML document. */
export function page(options: PageOptions): Html {
  const { session } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${options.title} · keyhole</title>
<link rel="stylesheet" href="${ASSETS.css.path}">
<script src="${ASSETS.js.path}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<span class="brand">keyhole</span>
${
  session
    ? html`<nav aria-label="Main"><ul>${NAV.map(
        ([item, href, label]) =>
          html`<li><a href="${href}"${item === options.current ? html` aria-current="page"` : ""}>${label}</a></li>`,
      )}</ul></nav>
<span class="muted">${session.principal.subject}</span>
<form method="post" action="/ui/logout"><input type="hidden" name="_csrf" value="${session.csrf}"><button class="link" type="submit">Sign out</button></form>`
    : ""
}
</header>
<main id="main">
${
  options.notice
    ? html`<p class="notice${options.notice.error ? " error" : ""}" role="${options.notice.error ? "alert" : "status"}">${options.notice.text}</p>`
    : ""
}
${options.body}
</main>
</body>
</html>
`;
}
