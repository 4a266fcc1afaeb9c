/**
 * The console's login form driven through `inject()`, as a browser would post it: the login page's
 * CSRF cookie and field, then the token. Shared by the console's integration tests (issue 19 attack).
 */
import type { FastifyInstance } from "fastify";

export interface ConsoleLogin {
  /** The login answer's status (303 when a session was opened). */
  readonly status: number;
  /** `kh_session=…` for a Cookie header, when a session was opened. */
  readonly cookie: string | undefined;
  /** The session cookie's Max-Age in seconds. */
  readonly maxAge: number | undefined;
  /** Where the login sent the browser. */
  readonly location: string | undefined;
  readonly body: string;
  /** The `x-keyhole-error` code of a refusal. */
  readonly code: string | undefined;
}

function setCookies(header: string | string[] | undefined): string[] {
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
}

/** Opens the login page and posts `token` with its CSRF token (from `ip` when given). */
export async function consoleLogin(
  app: FastifyInstance,
  token: string,
  options: { next?: string; ip?: string } = {},
): Promise<ConsoleLogin> {
  const shown = await app.inject({
    method: "GET",
    url: `/ui/login?next=${encodeURIComponent(options.next ?? "/ui/inbox")}`,
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  });
  const loginCookie = setCookies(shown.headers["set-cookie"])
    .find((c) => c.startsWith("kh_login="))
    ?.split(";")[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(shown.body)?.[1] ?? "";
  const next = /name="next" value="([^"]*)"/.exec(shown.body)?.[1] ?? "/ui/inbox";
  const answer = await app.inject({
    method: "POST",
    url: "/ui/login",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: loginCookie ?? "" },
    payload: new URLSearchParams({ _csrf: csrf, next: next.replaceAll("&amp;", "&"), token }).toString(),
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  });
  const session = setCookies(answer.headers["set-cookie"]).find((c) => c.startsWith("kh_session="));
  const value = session?.split(";")[0];
  const maxAge = session ? Number(/Max-Age=(\d+)/.exec(session)?.[1]) : undefined;
  return {
    status: answer.statusCode,
    cookie: value && value !== "kh_session=" ? value : undefined,
    maxAge,
    location: answer.headers.location as string | undefined,
    body: answer.body,
    code: answer.headers["x-keyhole-error"] as string | undefined,
  };
}

/** The CSRF token of a signed-in page (every form carries it). */
export async function consoleCsrf(app: FastifyInstance, cookie: string, url = "/ui/inbox"): Promise<string> {
  const page = await app.inject({ method: "GET", url, headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!csrf) throw new Error(`no CSRF token on ${url} (HTTP ${page.statusCode})`);
  return csrf;
}

/** Posts a console form with the session's cookie and CSRF token. */
export function consolePost(
  app: FastifyInstance,
  cookie: string,
  url: string,
  fields: Record<string, string>,
) {
  return app.inject({
    method: "POST",
    url,
    headers: { "content-type": "application/x-www-form-urlencoded", cookie },
    payload: new URLSearchParams(fields).toString(),
  });
}
