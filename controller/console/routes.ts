/**
 * The web console under `/ui/` (SPEC §9): server-rendered pages over the same services as the API.
 * Every decision goes through RequestService/CollectionService/ReviewService — the same policy checks,
 * the same four-eyes rule, the same audit records — and every read through their visibility rules.
 *
 * Safe by construction: pages are built only with the escaping `html` template; every answer carries
 * a CSP without inline script and `frame-ancestors 'none'`; every POST needs the session's CSRF token
 * (and a same-origin `Origin` when the browser sends one); the session cookie is HttpOnly,
 * SameSite=Strict, Secure over TLS, and kept server-side only as a hash (sessions.ts).
 */
import type { KeyObject } from "node:crypto";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { MAX_REASON_LENGTH } from "../../protocol/request.js";
import type { ArtifactService } from "../artifacts/service.js";
import type { AuditKey } from "../audit/audit-key.js";
import { type AuditRecord, GENESIS_HASH } from "../audit/chain.js";
import { type AuditCheckpoint, signCheckpoint } from "../audit/checkpoint.js";
import { verifyStore } from "../audit/cli.js";
import { writeExport } from "../audit/export-file.js";
import { buildReport, renderMarkdown } from "../audit/report.js";
import type { VerifyResult } from "../audit/verify-chain.js";
import { ControllerError } from "../errors.js";
import type { CollectionService } from "../fleet/collections.js";
import type { FleetRegistry } from "../fleet/registry.js";
import { toControllerError } from "../http/error-handler.js";
import { registerSubjectRateLimit } from "../http/shared-rate-limit.js";
import type { Authenticator, Principal } from "../identity/principal.js";
import { sameSubject } from "../identity/subject.js";
import { evaluate } from "../policy/evaluate.js";
import type { Policy } from "../policy/load-policy.js";
import { canSee, seesEnvironment, seesEverything } from "../policy/visibility.js";
import type { ReviewService } from "../requests/reviews.js";
import type { RequestService } from "../requests/service.js";
import type { RateCounter, RequestStatus, Store } from "../store/types.js";
import { REQUEST_STATUSES } from "../store/types.js";
import { ASSETS } from "./assets.js";
import { offerFor } from "./decide.js";
import type { Html } from "./html.js";
import { type NavItem, page } from "./layout.js";
import { type LoginLimitSettings, LoginLimits, namedCredential } from "./login-limits.js";
import type { ConsoleOidc } from "./oidc-login.js";
import {
  agentsPage,
  auditPage,
  collectionPage,
  errorPage,
  inboxPage,
  loginPage,
  type PageContext,
  requestListPage,
  requestPage,
  reviewsPage,
} from "./pages.js";
import { type ConsoleSession, type SessionLimits, SessionStore, sameSecret } from "./sessions.js";

export interface ConsoleDeps {
  readonly authenticator: Authenticator;
  readonly store: Store;
  readonly policy: Policy;
  readonly requests: RequestService;
  readonly collections?: CollectionService | undefined;
  readonly reviews?: ReviewService | undefined;
  readonly registry?: FleetRegistry | undefined;
  readonly artifacts?: ArtifactService | undefined;
  /** The audit key(s) the chain is verified against (the controller's own, loaded at start). */
  readonly auditKeys: ReadonlyMap<string, KeyObject>;
  /** The controller's audit key: signs the checkpoint an export from the console ends at. */
  readonly auditKey?: AuditKey | undefined;
  /** Login with the configured OpenID provider; absent means token login only. */
  readonly oidc?: ConsoleOidc | undefined;
  /** Where people reach the console (`--public-url`): an https one makes cookies Secure. */
  readonly publicUrl?: string | undefined;
  readonly sessionLimits?: Partial<SessionLimits>;
  /**
   * Downloads (artifacts, the audit export, the evidence report) per subject per minute, as the
   * API's `--rate-limit-per-minute` (0: none), shared by replicas through `rateCounter` (attack F4).
   */
  readonly rateLimitPerMinute?: number;
  readonly rateCounter?: RateCounter | undefined;
  /** How often login may be tried and sessions opened (login-limits.ts; defaults there). */
  readonly loginLimits?: LoginLimitSettings;
  readonly now: () => number;
}

export const SESSION_COOKIE = "kh_session";
const LOGIN_COOKIE = "kh_login";

/** The Content-Security-Policy of every console answer: nothing inline, nothing from elsewhere. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

declare module "fastify" {
  interface FastifyRequest {
    consoleSession: ConsoleSession | undefined;
  }
}

/** Cookies of a request (the few the console reads), without a cookie library. */
function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const NEXT_BASE = "http://console.invalid";

/**
 * A path under /ui/ safe to send someone to after login: never another origin, never `//`, and
 * judged after the dot segments are resolved as a browser resolves them (`/ui/../..` is `/`, not a
 * console page: console attack F5). Returns the resolved path, or the inbox.
 */
export function safeNext(value: unknown): string {
  if (typeof value !== "string") return "/ui/inbox";
  if (!/^\/ui\/[A-Za-z0-9._~/-]{0,200}(\?[A-Za-z0-9=&._~%-]{0,200})?$/.test(value) || value.includes("//"))
    return "/ui/inbox";
  const url = new URL(value, NEXT_BASE);
  const resolved = `${url.pathname}${url.search}`;
  return url.origin === NEXT_BASE && url.pathname.startsWith("/ui/") && !resolved.includes("//")
    ? resolved
    : "/ui/inbox";
}

/** Outcomes a redirect may announce: a fixed list, so no text travels through the URL. */
const NOTICES = {
  approved: "Approved. The approval is recorded in the audit chain.",
  denied: "Denied. The reason is recorded in the audit chain.",
  closed: "Review closed.",
  "signed-out": "Signed out.",
} as const;

const formSchema = z.record(z.string(), z.string());
const idParams = z.strictObject({ id: z.string().uuid() });
/** The API's limit (protocol/request.ts) for reasons and notes: the console takes no longer ones (attack F4). */
const noteSchema = z.string().trim().max(MAX_REASON_LENGTH);
const approveForm = z.object({ note: noteSchema.optional(), targetsDigest: z.string().max(128).optional() });
const reasonForm = z.object({ reason: noteSchema.min(1, "a reason is required") });
const reviewCloseForm = z.object({ note: noteSchema.min(1, "a note is required") });
const listQuery = z.object({
  status: z.enum(["", ...REQUEST_STATUSES]).optional(),
  done: z.string().optional(),
});
const reviewQuery = z.object({
  status: z.enum(["open", "closed", "all"]).default("open"),
  done: z.string().optional(),
});
const auditQuery = z.object({
  subject: z.string().max(320).optional(),
  action: z.string().max(64).optional(),
  environment: z.string().max(64).optional(),
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success)
    throw new ControllerError(
      "KH_BAD_REQUEST",
      parsed.error.issues.map((i) => `${i.path.join(".") || "form"}: ${i.message}`).join("; "),
    );
  return parsed.data;
}

/** Registers the console; mount at the root (its routes carry `/ui`). */
export function consoleRoutes(deps: ConsoleDeps) {
  return async (scope: FastifyInstance): Promise<void> => {
    const sessions = new SessionStore(deps.store, deps.now, deps.sessionLimits);
    const limits = new LoginLimits(deps.now, deps.loginLimits);
    const publicOrigin = deps.publicUrl ? new URL(deps.publicUrl).origin : undefined;
    let verification: { at: number; value: Promise<VerifyResult> } | undefined;

    scope.decorateRequest("consoleSession", undefined);
    // Downloads are limited per subject like the API's (console attack F4): the session is looked up
    // on request, so the limit (counted in preHandler) knows whose it is.
    const limited = await registerSubjectRateLimit(scope, {
      what: "console downloads",
      perMinute: deps.rateLimitPerMinute ?? 0,
      counter: deps.rateCounter,
      key: { of: (request) => request.consoleSession?.principal.subject ?? request.ip, per: "subject" },
    });
    const download = {
      ...limited,
      onRequest: async (request: FastifyRequest) => {
        request.consoleSession = await sessions.get(cookieOf(request, SESSION_COOKIE));
      },
    };
    // Forms arrive url-encoded; each field once (a repeated field is refused, not merged).
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 16 * 1024 },
      (_request, body, done) => {
        const fields: Record<string, string> = Object.create(null);
        for (const [key, value] of new URLSearchParams(body as string)) {
          if (key in fields) {
            done(new ControllerError("KH_BAD_REQUEST", `the form field "${key}" is repeated`), undefined);
            return;
          }
          fields[key] = value;
        }
        done(null, fields);
      },
    );

    const secure = (request: FastifyRequest) =>
      request.protocol === "https" || (deps.publicUrl?.startsWith("https:") ?? false);
    const cookie = (
      request: FastifyRequest,
      name: string,
      value: string,
      path: string,
      maxAgeSeconds: number,
    ) =>
      `${name}=${value}; Path=${path}; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; SameSite=Strict${secure(request) ? "; Secure" : ""}`;

    scope.addHook("onSend", async (_request, reply) => {
      reply.header("content-security-policy", CONSOLE_CSP);
      reply.header("x-frame-options", "DENY");
      reply.header("x-content-type-options", "nosniff");
      // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on our own forms.
      reply.header("referrer-policy", "same-origin");
      reply.header("cross-origin-opener-policy", "same-origin");
      reply.header("cross-origin-resource-policy", "same-origin");
      if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
    });

    scope.setErrorHandler((err, request, reply) => {
      const error = toControllerError(err as Error);
      if (error.status >= 500)
        request.log.error({ err: error.cause ?? error, code: error.code }, "console failed");
      else request.log.info({ code: error.code }, error.message);
      const session = request.consoleSession;
      // The page is for people; the code is also in a header for scripts and the route fuzzer.
      reply.header("x-keyhole-error", error.code);
      return reply
        .code(error.status)
        .type("text/html; charset=utf-8")
        .send(
          page({
            title: "Not possible",
            body: errorPage(`${error.code}: ${error.message}`),
            ...(session ? { session: { principal: session.principal, csrf: session.csrf } } : {}),
          }).toString(),
        );
    });

    const sendPage = (
      reply: FastifyReply,
      session: ConsoleSession,
      current: NavItem | undefined,
      title: string,
      body: Html,
      done?: string,
    ) =>
      reply.type("text/html; charset=utf-8").send(
        page({
          title,
          body,
          session: { principal: session.principal, csrf: session.csrf },
          ...(current ? { current } : {}),
          notice: done && done in NOTICES ? { text: NOTICES[done as keyof typeof NOTICES] } : undefined,
        }).toString(),
      );

    /** The session of a page route; a GET without one goes to the login page, anything else is refused. */
    async function requireSession(
      request: FastifyRequest,
      reply: FastifyReply,
    ): Promise<ConsoleSession | undefined> {
      const session = request.consoleSession ?? (await sessions.get(cookieOf(request, SESSION_COOKIE)));
      if (session) {
        request.consoleSession = session;
        request.log = request.log.child({ subject: session.principal.subject, console: true });
        return session;
      }
      if (request.method === "GET") {
        await reply.redirect(`/ui/login?next=${encodeURIComponent(safeNext(request.url))}`, 303);
        return undefined;
      }
      throw new ControllerError("KH_UNAUTHENTICATED", "sign in to the console first");
    }

    /** A state change: the session's CSRF token, and the page's own origin when the browser names one. */
    function checkForm(
      request: FastifyRequest,
      session: ConsoleSession | { csrf: string },
    ): Record<string, string> {
      const origin = request.headers.origin;
      const own = publicOrigin ?? `${request.protocol}://${request.headers.host ?? ""}`;
      if (origin !== undefined && origin !== own)
        throw new ControllerError("KH_CSRF", "the form was posted from another origin");
      const form = parse(formSchema, request.body);
      const token = form._csrf;
      if (token === undefined || !sameSecret(token, session.csrf))
        throw new ControllerError("KH_CSRF", "the form's CSRF token is missing or wrong; reload the page");
      return form;
    }

    // A route that needs a session: the handler runs only with one.
    const authed =
      (
        handler: (request: FastifyRequest, reply: FastifyReply, session: ConsoleSession) => Promise<unknown>,
      ) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        const session = await requireSession(request, reply);
        if (!session) return reply;
        return handler(request, reply, session);
      };
    const ctxOf = (session: ConsoleSession): PageContext => ({ csrf: session.csrf, now: deps.now() });

    for (const asset of Object.values(ASSETS)) {
      scope.get(asset.path, async (_request, reply) =>
        reply
          .type(asset.type)
          .header("cache-control", "public, max-age=31536000, immutable")
          .send(asset.body),
      );
    }

    scope.get("/ui", async (_request, reply) => reply.redirect("/ui/inbox", 303));
    scope.get("/ui/", async (_request, reply) => reply.redirect("/ui/inbox", 303));

    // ---- login and logout ----
    const showLogin = (
      request: FastifyRequest,
      reply: FastifyReply,
      next: string,
      status = 200,
      error?: string,
    ) => {
      const loginCsrf = randomBytes(32).toString("base64url");
      return reply
        .code(status)
        .header("set-cookie", cookie(request, LOGIN_COOKIE, loginCsrf, "/ui/login", 600))
        .type("text/html; charset=utf-8")
        .send(
          page({
            title: "Sign in",
            body: loginPage({ loginCsrf, next, oidc: deps.oidc !== undefined, error }),
          }).toString(),
        );
    };

    scope.get("/ui/login", async (request, reply) =>
      showLogin(request, reply, safeNext((request.query as Record<string, unknown>)?.next)),
    );

    scope.post("/ui/login", async (request, reply) => {
      const fields = parse(formSchema, request.body);
      const token = (fields.token ?? "").trim();
      // Junk counts against its address and the credential it names; a credential that has not
      // failed is still checked from a noisy address (login-limits.ts, console attack F3).
      const credential = namedCredential(token);
      if (!limits.mayTry(request.ip, credential))
        throw new ControllerError(
          "KH_RATE_LIMITED",
          "too many failed sign-in attempts from this address; wait a minute",
        );
      let form: Record<string, string>;
      try {
        form = checkForm(request, { csrf: cookieOf(request, LOGIN_COOKIE) ?? "" });
      } catch (err) {
        limits.failed(request.ip, undefined);
        throw err;
      }
      const next = safeNext(form.next);
      const principal =
        token.length > 0 && token.length <= 8192 ? await deps.authenticator.authenticate(token) : undefined;
      if (!principal) {
        limits.failed(request.ip, credential);
        request.log.info({ console: true }, "console sign-in refused");
        return showLogin(request, reply, next, 401, "That token is not valid (unknown, expired or revoked).");
      }
      return startSession(request, reply, principal, next);
    });

    /**
     * Opens a session for someone who just proved who they are: at most so many per subject a minute
     * (login-limits.ts), and on the audit chain before the cookie is handed out (console attack F7).
     */
    async function openSession(request: FastifyRequest, principal: Principal, endBy?: number) {
      if (!limits.maySignIn(principal.subject))
        throw new ControllerError(
          "KH_RATE_LIMITED",
          `too many console sign-ins as ${principal.subject} this minute; wait a minute`,
        );
      const opened = sessions.open(principal, endBy);
      try {
        await deps.store.appendAudit(
          [
            {
              actor: principal.subject,
              event: "console.signed-in",
              details: {
                credential: { kind: principal.credential.kind, id: principal.credential.id },
                groups: [...principal.groups],
                address: request.ip,
                sessionEndsAt: new Date(opened.session.expiresAt).toISOString(),
              },
            },
          ],
          deps.now(),
        );
      } catch (err) {
        sessions.endSession(opened.session);
        throw err;
      }
      request.log.info(
        { subject: principal.subject, credential: principal.credential.kind, console: true },
        "console sign-in",
      );
      return opened;
    }

    async function startSession(
      request: FastifyRequest,
      reply: FastifyReply,
      principal: Principal,
      next: string,
    ) {
      // The session ends no later than the credential (a token's expiry, an ID token's exp).
      const { cookie: value, session } = await openSession(request, principal);
      return reply
        .header("set-cookie", [
          cookie(request, SESSION_COOKIE, value, "/ui", (session.expiresAt - deps.now()) / 1000),
          cookie(request, LOGIN_COOKIE, "", "/ui/login", 0),
        ])
        .redirect(next, 303);
    }

    scope.post(
      "/ui/logout",
      authed(async (request, reply, session) => {
        checkForm(request, session);
        sessions.end(cookieOf(request, SESSION_COOKIE));
        await deps.store.appendAudit(
          [
            {
              actor: session.principal.subject,
              event: "console.signed-out",
              details: {
                credential: { kind: session.principal.credential.kind, id: session.principal.credential.id },
                address: request.ip,
                signedInAt: new Date(session.createdAt).toISOString(),
              },
            },
          ],
          deps.now(),
        );
        request.log.info({ console: true }, "console sign-out");
        return reply
          .header("set-cookie", cookie(request, SESSION_COOKIE, "", "/ui", 0))
          .redirect("/ui/login?next=%2Fui%2Finbox", 303);
      }),
    );

    if (deps.oidc) {
      const oidc = deps.oidc;
      scope.get("/ui/login/oidc", async (request, reply) => {
        if (!limits.mayStart(request.ip))
          throw new ControllerError(
            "KH_RATE_LIMITED",
            "too many sign-ins started from this address; wait a minute",
          );
        const next = safeNext((request.query as Record<string, unknown>)?.next);
        const { url, state } = await oidc.begin(next);
        // The browser comes back from the provider cross-site: a Lax cookie is the one it still sends.
        return reply
          .header(
            "set-cookie",
            `kh_oidc=${state}; Path=/ui/login; Max-Age=600; HttpOnly; SameSite=Lax${secure(request) ? "; Secure" : ""}`,
          )
          .redirect(url, 303);
      });
      scope.get("/ui/login/callback", async (request, reply) => {
        const state = cookieOf(request, "kh_oidc");
        const done = await oidc.complete(request.url, state);
        reply.header(
          "set-cookie",
          `kh_oidc=; Path=/ui/login; Max-Age=0; HttpOnly; SameSite=Lax${secure(request) ? "; Secure" : ""}`,
        );
        if ("refused" in done) return showLogin(request, reply, "/ui/inbox", 401, done.refused);
        // The provider's redirect is a cross-site navigation: a redirect from here would still not
        // carry the Strict session cookie, so a page with a link makes the next navigation our own.
        // An hour at most, and never past the ID token's exp: the provider, not this session, is where
        // a person's access is ended.
        const { cookie: value, session } = await openSession(request, done.principal, deps.now() + 3_600_000);
        return reply
          .header("set-cookie", [
            cookie(request, SESSION_COOKIE, value, "/ui", (session.expiresAt - deps.now()) / 1000),
            `kh_oidc=; Path=/ui/login; Max-Age=0; HttpOnly; SameSite=Lax${secure(request) ? "; Secure" : ""}`,
          ])
          .type("text/html; charset=utf-8")
          .send(
            page({
              title: "Signed in",
              body: signedInBody(done.next),
            }).toString(),
          );
      });
    }

    // ---- pages ----
    scope.get(
      "/ui/inbox",
      authed(async (request, reply, session) => {
        const who = session.principal;
        const now = deps.now();
        const pending = await deps.requests.list(who, { status: "pending", limit: 200 });
        const pendingCollections = deps.collections
          ? await deps.collections.list(who, { status: "pending", limit: 100 })
          : [];
        const items = [
          ...pending.map((record) => ({
            item: { kind: "request" as const, record },
            offer: offerFor(deps.policy, who, record, "request"),
          })),
          ...pendingCollections.map((record) => ({
            item: { kind: "collection" as const, record },
            offer: offerFor(deps.policy, who, record, "collection"),
          })),
        ].filter(({ item }) => item.record.expiresAt > now);
        const toDecide = items
          .filter(({ offer }) => !offer.own && (!offer.cannotApprove || !offer.cannotDeny))
          .sort((a, b) => a.item.record.expiresAt - b.item.record.expiresAt);
        const mine = items.filter(({ offer }) => offer.own);
        return sendPage(
          reply,
          session,
          "inbox",
          "Inbox",
          inboxPage(toDecide, mine, ctxOf(session)),
          doneOf(request),
        );
      }),
    );

    scope.get(
      "/ui/requests",
      authed(async (request, reply, session) => {
        const q = parse(listQuery, request.query);
        const status = q.status ? (q.status as RequestStatus) : undefined;
        const found = await deps.requests.list(session.principal, {
          ...(status ? { status } : {}),
          limit: 100,
        });
        const collections = deps.collections
          ? await deps.collections.list(session.principal, { limit: 50 })
          : [];
        return sendPage(
          reply,
          session,
          "requests",
          "Requests",
          requestListPage(found, collections, status, ctxOf(session)),
        );
      }),
    );

    scope.get(
      "/ui/requests/:id",
      authed(async (request, reply, session) => {
        const { id } = parse(idParams, request.params);
        const record = await deps.requests.get(session.principal, id);
        const audit = await deps.store.listRequestAudit(id);
        const artifact =
          record.artifactId && deps.artifacts
            ? await deps.artifacts.get(session.principal, record.artifactId).catch(() => undefined)
            : undefined;
        return sendPage(
          reply,
          session,
          "requests",
          `Request ${record.action}`,
          requestPage(
            record,
            offerFor(deps.policy, session.principal, record, "request"),
            audit,
            artifact,
            ctxOf(session),
          ),
          doneOf(request),
        );
      }),
    );

    scope.post(
      "/ui/requests/:id/approve",
      authed(async (request, reply, session) => {
        const form = parse(approveForm, checkForm(request, session));
        const { id } = parse(idParams, request.params);
        const approved = await deps.requests.approve(session.principal, id, form.note || undefined);
        request.log.info({ requestId: id, status: approved.status }, "request approved");
        return reply.redirect(`/ui/requests/${id}?done=approved`, 303);
      }),
    );

    scope.post(
      "/ui/requests/:id/deny",
      authed(async (request, reply, session) => {
        const form = parse(reasonForm, checkForm(request, session));
        const { id } = parse(idParams, request.params);
        await deps.requests.deny(session.principal, id, form.reason);
        request.log.info({ requestId: id }, "request denied");
        return reply.redirect(`/ui/requests/${id}?done=denied`, 303);
      }),
    );

    if (deps.collections) {
      const collections = deps.collections;
      scope.get(
        "/ui/collections/:id",
        authed(async (request, reply, session) => {
          const { id } = parse(idParams, request.params);
          const { collection, targets } = await collections.get(session.principal, id);
          const audit = await deps.store.listCollectionAudit(id);
          return sendPage(
            reply,
            session,
            "requests",
            `Collection ${collection.action}`,
            collectionPage(
              collection,
              targets,
              offerFor(deps.policy, session.principal, collection, "collection"),
              audit,
              ctxOf(session),
            ),
            doneOf(request),
          );
        }),
      );
      scope.post(
        "/ui/collections/:id/approve",
        authed(async (request, reply, session) => {
          const form = parse(approveForm, checkForm(request, session));
          const { id } = parse(idParams, request.params);
          // The digest of the list the approver was shown: the approval covers exactly that list.
          await collections.approve(session.principal, id, form.note || undefined, form.targetsDigest);
          request.log.info({ collectionId: id }, "collection approved");
          return reply.redirect(`/ui/collections/${id}?done=approved`, 303);
        }),
      );
      scope.post(
        "/ui/collections/:id/deny",
        authed(async (request, reply, session) => {
          const form = parse(reasonForm, checkForm(request, session));
          const { id } = parse(idParams, request.params);
          await collections.deny(session.principal, id, form.reason);
          request.log.info({ collectionId: id }, "collection denied");
          return reply.redirect(`/ui/collections/${id}?done=denied`, 303);
        }),
      );
    }

    if (deps.reviews) {
      const reviews = deps.reviews;
      scope.get(
        "/ui/reviews",
        authed(async (request, reply, session) => {
          const q = parse(reviewQuery, request.query);
          const who = session.principal;
          const found = await reviews.list(who, {
            ...(q.status === "all" ? {} : { status: q.status }),
            limit: 100,
          });
          const views = found.map((r) => reviews.view(r));
          // The same conditions ReviewService.close checks; it checks them again on submit.
          const mayClose = (r: (typeof views)[number]) =>
            !sameSubject(r.subject, who.subject) &&
            evaluate(deps.policy, who, r.action, r.environment).allowed;
          return sendPage(
            reply,
            session,
            "reviews",
            "Reviews",
            reviewsPage(views, mayClose, q.status, ctxOf(session)),
            q.done,
          );
        }),
      );
      scope.post(
        "/ui/reviews/:id/close",
        authed(async (request, reply, session) => {
          const form = parse(reviewCloseForm, checkForm(request, session));
          const { id } = parse(idParams, request.params);
          await reviews.close(session.principal, id, form.note);
          request.log.info({ reviewId: id }, "review closed");
          return reply.redirect("/ui/reviews?done=closed", 303);
        }),
      );
    }

    if (deps.registry) {
      const registry = deps.registry;
      scope.get(
        "/ui/agents",
        authed(async (_request, reply, session) => {
          const agents = registry
            .list()
            .filter((a) => seesEnvironment(deps.policy, session.principal, a.environment));
          return sendPage(reply, session, "agents", "Agents", agentsPage(agents, ctxOf(session)));
        }),
      );
    }

    if (deps.artifacts) {
      const artifacts = deps.artifacts;
      scope.get(
        "/ui/artifacts/:id/content",
        download,
        authed(async (request, reply, session) => {
          const { id } = parse(z.strictObject({ id: z.string().min(1).max(100) }), request.params);
          const { artifact, body } = await artifacts.download(session.principal, id);
          request.log.info(
            { artifactId: id, requestId: artifact.requestId, size: artifact.size },
            "artifact download",
          );
          const filename = artifact.filename.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 200) || "artifact";
          return reply
            .header("content-type", "application/octet-stream")
            .header("content-length", String(artifact.size))
            .header("content-disposition", `attachment; filename="${filename}"`)
            .header("x-keyhole-sha256", artifact.sha256)
            .send(body);
        }),
      );
    }

    scope.get(
      "/ui/audit",
      authed(async (request, reply, session) => {
        const q = parse(auditQuery, request.query);
        const who = session.principal;
        // Walking the chain is work: one verification at a time, reused for a minute.
        const now = deps.now();
        if (!verification || now - verification.at > 60_000) {
          const value = verifyStore(deps.store, deps.auditKeys);
          verification = { at: now, value };
          value.catch(() => {
            verification = undefined;
          });
        }
        const checkedAt = verification.at;
        const verified = await verification.value.then(
          (result) => ({ result, keyId: [...deps.auditKeys.keys()].join(", "), checkedAt }),
          (err: unknown) => ({ error: (err as Error).message }),
        );
        const { records, scanned } = await searchAudit(who, q);
        return sendPage(
          reply,
          session,
          "audit",
          "Audit",
          auditPage(verified, records, scanned, q, ctxOf(session), seesEverything(deps.policy, who)),
        );
      }),
    );

    /** The whole chain and the evidence report are for people the policy allows everything. */
    function assertSeesEverything(who: Principal): void {
      if (!seesEverything(deps.policy, who))
        throw new ControllerError(
          "KH_POLICY_DENIED",
          `${who.subject} may not read the whole audit chain: it holds every environment's records, and the policy does not allow them every action everywhere`,
        );
    }

    // The export `keyhole audit export` writes, signed up to the head now: verify it offline
    // against a key you pinned (`keyhole audit verify --file F --key K`).
    if (deps.auditKey) {
      const key = deps.auditKey;
      scope.get(
        "/ui/audit/export.jsonl",
        download,
        authed(async (request, reply, session) => {
          assertSeesEverything(session.principal);
          const at = deps.now();
          const head = (await deps.store.auditHead()) ?? { seq: 0, hash: GENESIS_HASH };
          const checkpoint: AuditCheckpoint = signCheckpoint(key, head, at);
          await deps.store.appendCheckpoint(checkpoint);
          const stored = (await deps.store.listCheckpoints({ afterSeq: head.seq - 1 })).find(
            (c) => c.seq === head.seq,
          );
          const dir = await mkdtemp(join(tmpdir(), "keyhole-console-export-"));
          const file = join(dir, "audit.jsonl");
          try {
            await writeExport(deps.store, file, {
              checkpoint: stored ?? checkpoint,
              publicKeys: [key.publicJwk],
              exportedAt: at,
            });
          } catch (err) {
            await rm(dir, { recursive: true, force: true });
            throw err;
          }
          // Who took the whole chain away, and up to where: on the chain itself (console attack F7).
          try {
            await deps.store.appendAudit(
              [
                {
                  actor: session.principal.subject,
                  event: "audit.exported",
                  details: { headSeq: head.seq, headHash: head.hash, via: "console", address: request.ip },
                },
              ],
              deps.now(),
            );
          } catch (err) {
            await rm(dir, { recursive: true, force: true });
            throw err;
          }
          const body = createReadStream(file);
          body.on("close", () => void rm(dir, { recursive: true, force: true }));
          request.log.info({ headSeq: head.seq }, "audit export downloaded from the console");
          return reply
            .type("application/x-ndjson")
            .header(
              "content-disposition",
              `attachment; filename="keyhole-audit-${new Date(at).toISOString().replace(/[:.]/g, "-")}.jsonl"`,
            )
            .send(body);
        }),
      );
    }

    scope.get(
      "/ui/audit/report.md",
      download,
      authed(async (request, reply, session) => {
        assertSeesEverything(session.principal);
        const { days } = parse(
          z.object({ days: z.coerce.number().int().min(1).max(3650).default(30) }),
          request.query,
        );
        const until = new Date(deps.now());
        const since = new Date(until.getTime() - days * 86_400_000);
        await deps.store.appendAudit(
          [
            {
              actor: session.principal.subject,
              event: "audit.exported",
              details: { report: "evidence", days, via: "console", address: request.ip },
            },
          ],
          deps.now(),
        );
        const result = await verifyStore(deps.store, deps.auditKeys);
        const { ok: _ok, ...verdict } = result;
        const store = deps.store;
        async function* records() {
          let after = 0;
          for (;;) {
            const page = await store.listAudit({ afterSeq: after, limit: 5000 });
            yield* page;
            if (page.length < 5000) return;
            after = page.at(-1)!.seq;
          }
        }
        const report = await buildReport(records(), {
          since,
          until,
          chain: {
            ...verdict,
            // Checked against the key beside the database: consistent, but nobody pinned it here.
            status: result.ok ? "unpinned" : "broken",
            keySource: "the controller's own audit key (not pinned by the reader)",
            unpinnedReason: result.ok
              ? "made by the controller with its own key; for proof, verify an export against a key you pinned"
              : undefined,
          },
        });
        return reply
          .type("text/markdown; charset=utf-8")
          .header("content-disposition", `attachment; filename="keyhole-evidence-${days}d.md"`)
          .send(renderMarkdown(report));
      }),
    );

    /**
     * The newest records (the last 5000 of the chain) that match the query and that `who` may see:
     * those of requests and collections they may see, their own actions, and — for someone the policy
     * allows every action everywhere — the controller's own records.
     */
    async function searchAudit(who: Principal, q: z.output<typeof auditQuery>) {
      const head = await deps.store.auditHead();
      const last = head?.seq ?? 0;
      const first = Math.max(0, last - 5000);
      const rows = await deps.store.listAudit({ afterSeq: first, limit: 5000 });
      const from = q.from ? Date.parse(`${q.from}Z`) : Number.NaN;
      const to = q.to ? Date.parse(`${q.to}Z`) : Number.NaN;
      const everything = seesEverything(deps.policy, who);
      const requestVisible = new Map<string, Promise<boolean>>();
      const visibleRequest = (id: string) => {
        let known = requestVisible.get(id);
        if (!known) {
          known = deps.store.getRequest(id).then((r) => (r ? canSee(deps.policy, who, r) : everything));
          requestVisible.set(id, known);
        }
        return known;
      };
      const out: AuditRecord[] = [];
      for (const r of [...rows].reverse()) {
        if (out.length >= 200) break;
        const d = r.details as Record<string, unknown>;
        if (q.subject && !r.actor.toLowerCase().includes(q.subject.toLowerCase())) continue;
        if (q.action && d.action !== q.action) continue;
        if (q.environment && d.environment !== q.environment) continue;
        const t = Date.parse(r.time);
        if (!Number.isNaN(from) && t < from) continue;
        if (!Number.isNaN(to) && t > to) continue;
        const visible = r.requestId
          ? await visibleRequest(r.requestId)
          : everything || sameSubject(r.actor, who.subject);
        if (visible) out.push(r);
      }
      return { records: out, scanned: { from: first + 1, to: last } };
    }
  };
}

function doneOf(request: FastifyRequest): string | undefined {
  const done = (request.query as Record<string, unknown> | undefined)?.done;
  return typeof done === "string" ? done : undefined;
}

import { html } from "./html.js";

function signedInBody(next: string): Html {
  return html`<h1>Signed in</h1><p><a href="${next}" data-follow>Continue</a></p>`;
}
