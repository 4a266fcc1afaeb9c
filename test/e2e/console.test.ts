/**
 * The web console in a real browser (chromium through playwright-core) against a real controller,
 * agent and workload started through the `keyhole` executable: an approver approves a production
 * request from the inbox and the requester's `run --wait` completes; someone without the
 * entitlement gets no button and a forged POST is refused; a POST without the CSRF token is refused;
 * markup in a reason stays text; the inbox at 360 px; axe-core on every page. One browser launch.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { statSync } from "node:fs";
import { createServer } from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactPath, axeViolations, launchChromium, signIn } from "../helpers/browser.js";
import { startTestProvider, type TestProvider } from "../helpers/oidc-provider.js";
import { freePort, KEYHOLE_BIN, Stack } from "../helpers/stack.js";

const SECRET = `console-${randomBytes(12).toString("hex")}`;
const AGENT = "production/shop/shop-0";
// What an attacker who may file requests would put in a reason, hoping an approver's page runs it.
const HOSTILE_REASON = `INC-77 <script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> heap grows`;

const stack = new Stack("console-e2e");
let browser: Browser;
let provider: TestProvider;
/** The approver's signed-in page, reused across tests. */
let bob: Page;
const contexts: BrowserContext[] = [];

async function personAt(token: string, viewport = { width: 1100, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  return signIn(context, stack.url, token);
}

beforeAll(async () => {
  // The controller's URL must be known to the provider (its redirect URI) before either starts.
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  provider = await startTestProvider({
    clientId: "keyhole",
    redirectUris: [`${publicUrl}/ui/login/callback`],
    groups: { "dave@example.com": ["SRE"] },
  });
  const [started, launched] = await Promise.all([
    stack.start({
      workload: { NODE_ENV: "production", DEMO_API_KEY: SECRET },
      agents: [{ id: AGENT, environment: "production", actions: ["process-info", "env", "log-tail"] }],
      policy: [
        "environments:",
        "  production: { approvals: 1, maxTtlSeconds: 120 }",
        "roles:",
        '  sre: { actions: ["*"] }',
        "  support: { actions: [process-info] }",
        "bindings:",
        '  - { subjects: ["group:sre"], role: sre, environments: ["*"] }',
        '  - { subjects: ["group:support"], role: support, environments: [production] }',
        "",
      ].join("\n"),
      tokens: {
        alice: { subject: "user:alice@example.com", groups: ["sre"] },
        bob: { subject: "user:bob@example.com", groups: ["sre"] },
        carol: { subject: "user:carol@example.com", groups: ["support"] },
      },
      controller: {
        listen: `127.0.0.1:${port}`,
        flags: ["--oidc-issuer", provider.url, "--oidc-audience", "keyhole", "--public-url", publicUrl],
      },
    }),
    launchChromium(),
  ]);
  void started;
  browser = launched;
}, 60_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  expect(await stack.stop()).toEqual([0, 0, 0]);
  await provider?.close();
});

/** Files a request as `who` through the API (the CLI's own path is the first test's); its id. */
async function file(
  who: string,
  action: string,
  reason: string,
  params: Record<string, unknown> = {},
): Promise<string> {
  const response = await fetch(`${stack.url}/v1/requests`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.tokens[who]!.token}`, "content-type": "application/json" },
    body: JSON.stringify({ action, target: AGENT, params, reason, ticket: "INC-77" }),
  });
  const body = (await response.json()) as { request: { id: string } };
  expect(response.status, JSON.stringify(body)).toBe(201);
  return body.request.id;
}

async function statusOf(id: string): Promise<string> {
  const response = await fetch(`${stack.url}/v1/requests/${id}`, {
    headers: { authorization: `Bearer ${stack.tokens.alice!.token}` },
  });
  return ((await response.json()) as { request: { status: string } }).request.status;
}

describe("the console in a browser", () => {
  it("an approver sees the pending production request with its params and approves it; the requester's --wait completes", {
    timeout: 60_000,
  }, async () => {
    // The requester waits as in the README's walk-through.
    const waiting = stack.keyhole(
      ["run", "env", "--target", AGENT, "--reason", HOSTILE_REASON, "--ticket", "INC-77", "--wait", "--json"],
      stack.as("alice"),
      60_000,
    );
    bob = await personAt(stack.tokens.bob!.token);
    const card = bob.locator("article", { hasText: "heap grows" });
    for (let i = 0; i < 50 && (await card.count()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      await bob.reload();
    }
    await expect.poll(() => card.count()).toBe(1);
    const text = await card.textContent();
    expect(text).toContain("user:alice@example.com");
    expect(text).toContain("production");
    expect(text).toContain(AGENT);
    expect(text).toContain("INC-77");
    expect(text).toMatch(/Why you may decide:.*bindings\[0\] grants role "sre"/s);
    expect(text).toMatch(/Expires\s*in \d+ min/);

    // The reason is shown as the text it is: no script ran, no element was made of it.
    expect(await card.locator(".reason").textContent()).toBe(HOSTILE_REASON);
    expect(await bob.locator("main script, main img").count()).toBe(0);
    expect(await bob.evaluate("window.__pwned")).toBeUndefined();

    // Keyboard only: the note field, then Tab to the approve button, then Enter.
    await card.getByLabel("Note (optional)").focus();
    await bob.keyboard.type("ok, INC-77 bridge");
    await bob.keyboard.press("Tab");
    expect(await bob.evaluate("document.activeElement?.textContent")).toMatch(/^Approve env on /);
    await bob.keyboard.press("Enter");
    await bob.waitForURL(/\/ui\/requests\/[0-9a-f-]+\?done=approved$/);
    expect(await bob.locator("[role=status]").textContent()).toContain("Approved");

    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    const { request } = JSON.parse(done.stdout);
    expect(request.status).toBe("completed");
    expect(request.approvals).toEqual([
      expect.objectContaining({ subject: "user:bob@example.com", note: "ok, INC-77 bridge" }),
    ]);

    // The request page: the timeline from the audit chain, the env table with the secret masked.
    await bob.goto(`${stack.url}/ui/requests/${request.id}`);
    const timeline = await bob.locator("ol.timeline").textContent();
    expect(timeline).toMatch(
      /request\.created by user:alice@example\.com[\s\S]*request\.approved by user:bob@example\.com[\s\S]*note: ok, INC-77 bridge[\s\S]*request\.completed/,
    );
    const row = bob.locator("tr", { hasText: "DEMO_API_KEY" });
    expect(await row.textContent()).toMatch(/yes/);
    expect(await bob.content()).not.toContain(SECRET);
  });

  it("someone without the entitlement gets no approve button, and a forged POST is refused", async () => {
    const id = await file("alice", "env", "console: forged approval");
    const carol = await personAt(stack.tokens.carol!.token);
    expect(await carol.locator("article", { hasText: "forged approval" }).count()).toBe(0);
    const response = await carol.goto(`${stack.url}/ui/requests/${id}`);
    // Carol may not run env in production: to her the request does not exist (as in the API).
    expect(response?.status()).toBe(404);
    expect(await carol.getByRole("button", { name: /Approve/ }).count()).toBe(0);
    // A forged form with her own valid session and CSRF token: the service refuses it.
    const csrf = await carol.locator("input[name=_csrf]").first().inputValue();
    const forged = await carol.request.post(`${stack.url}/ui/requests/${id}/approve`, {
      form: { _csrf: csrf, note: "forged" },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(404);
    expect(await forged.text()).toContain("KH_NOT_FOUND");
    expect(await statusOf(id)).toBe("pending");

    // Her own request (support may run process-info): she sees it, but no approve button for herself.
    const own = await file("carol", "process-info", "console: own request");
    await carol.goto(`${stack.url}/ui/requests/${own}`);
    expect(await carol.locator("dl.facts").textContent()).toContain("console: own request");
    expect(await carol.getByRole("button", { name: /^Approve/ }).count()).toBe(0);
    expect(await carol.locator("summary", { hasText: "Withdraw" }).count()).toBe(1);
    const self = await carol.request.post(`${stack.url}/ui/requests/${own}/approve`, {
      form: { _csrf: csrf },
      maxRedirects: 0,
    });
    expect(self.status()).toBe(403);
    expect(await self.text()).toContain("KH_SELF_APPROVAL");
    expect(await statusOf(own)).toBe("pending");
  });

  it("refuses a POST without the CSRF token, or from another origin, and logout ends the session on the server", async () => {
    const id = await file("alice", "env", "console: csrf");
    const context = await browser.newContext();
    contexts.push(context);
    const bob = await signIn(context, stack.url, stack.tokens.bob!.token);
    const csrf = await bob.locator("input[name=_csrf]").first().inputValue();
    const missing = await bob.request.post(`${stack.url}/ui/requests/${id}/approve`, {
      form: { note: "no token" },
      maxRedirects: 0,
    });
    expect(missing.status()).toBe(403);
    expect(await missing.text()).toContain("KH_CSRF");
    const wrong = await bob.request.post(`${stack.url}/ui/requests/${id}/approve`, {
      form: { _csrf: `${csrf.slice(0, -2)}xx`, note: "wrong token" },
      maxRedirects: 0,
    });
    expect(wrong.status()).toBe(403);
    const elsewhere = await bob.request.post(`${stack.url}/ui/requests/${id}/approve`, {
      form: { _csrf: csrf },
      headers: { origin: "https://attacker.example" },
      maxRedirects: 0,
    });
    expect(elsewhere.status()).toBe(403);
    expect(await statusOf(id)).toBe("pending");

    // The session cookie: HttpOnly and SameSite=Strict, invisible to scripts.
    const [session] = (await context.cookies()).filter((c) => c.name === "kh_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(await bob.evaluate("document.cookie")).toBe("");
    // Sign out, then replay the old cookie: the server has forgotten it.
    await bob.getByRole("button", { name: "Sign out" }).click();
    await bob.waitForURL(/\/ui\/login/);
    const replay = await fetch(`${stack.url}/ui/inbox`, {
      headers: { cookie: `kh_session=${session!.value}` },
      redirect: "manual",
    });
    expect(replay.status).toBe(303);
    expect(replay.headers.get("location")).toMatch(/^\/ui\/login/);
    // No open redirect after login: a foreign `next` lands on the inbox.
    const page = await context.newPage();
    await page.goto(`${stack.url}/ui/login?next=${encodeURIComponent("//attacker.example/x")}`);
    await page.getByLabel(/Controller-issued token/).fill(stack.tokens.bob!.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/ui\/inbox$/);
  });

  it("the inbox reads at 360 px wide (screenshot kept as a test artifact)", async () => {
    await file("alice", "env", "console: phone view, redact stays on");
    const phone = bob;
    await phone.setViewportSize({ width: 360, height: 780 });
    await phone.goto(`${stack.url}/ui/inbox`);
    expect(await phone.locator("article").count()).toBeGreaterThan(0);
    // Nothing wider than the screen: no sideways scrolling to find the approve button.
    expect(await phone.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(360);
    const approve = phone.getByRole("button", { name: /^Approve env/ }).first();
    const box = await approve.boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(360);
    expect(box!.height).toBeGreaterThanOrEqual(44);
    await phone.screenshot({ path: artifactPath("console", "inbox-360.png"), fullPage: true });
    await phone.setViewportSize({ width: 1100, height: 900 });
  });

  it("every page passes axe-core and is sent with a CSP without inline script and frame-ancestors 'none'", async () => {
    const id = await file("alice", "env", "console: a11y");
    const anon = await (await browser.newContext()).newPage();
    const pages: [Page, string][] = [
      [anon, "/ui/login"],
      [bob, "/ui/inbox"],
      [bob, "/ui/requests"],
      [bob, `/ui/requests/${id}`],
      [bob, "/ui/reviews"],
      [bob, "/ui/audit"],
      [bob, "/ui/agents"],
    ];
    for (const [page, path] of pages) {
      const response = await page.goto(`${stack.url}${path}`);
      expect(response?.status(), path).toBe(200);
      const csp = response?.headers()["content-security-policy"] ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).not.toContain("unsafe-inline");
      expect(await axeViolations(page), path).toEqual([]);
    }
    // The audit page says whether the chain verifies against the controller's key.
    await bob.goto(`${stack.url}/ui/audit`);
    expect(await bob.locator("[role=status]").textContent()).toMatch(
      /The chain verifies against the controller's audit key audit-/,
    );
    // axe-core walks every page under load: more than the default 30 s on two busy cores.
  }, 90_000);

  it("downloads the signed audit export and the evidence report for those the policy allows everything", async () => {
    const exported = await bob.request.get(`${stack.url}/ui/audit/export.jsonl`);
    expect(exported.status()).toBe(200);
    const file = stack.write("console-export.jsonl", await exported.text());
    // The export verifies offline against the key an auditor pinned (the data dir's public JWKS).
    const verified = await stack.keyhole([
      "audit",
      "verify",
      "--file",
      file,
      "--key",
      stack.path("audit-jwks.json"),
    ]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const report = await bob.request.get(`${stack.url}/ui/audit/report.md?days=1`);
    expect(report.status()).toBe(200);
    expect(await report.text()).toContain("not verified against a pinned key");
    // Carol's role covers one action: the whole chain is not hers to read.
    const carol = await personAt(stack.tokens.carol!.token);
    expect((await carol.request.get(`${stack.url}/ui/audit/export.jsonl`)).status()).toBe(403);
    expect(await carol.getByRole("link", { name: /Download the export/ }).count()).toBe(0);
  }, 60_000);

  it("signs in through the OpenID provider (code + PKCE) as the canonical subject the API uses", async () => {
    const id = await file("alice", "env", "console: oidc approver");
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${stack.url}/ui/requests/${id}`);
    await page.getByRole("link", { name: /identity provider/ }).click();
    // The provider's own sign-in form; the email's case is the person's, the subject's is canonical.
    await page.locator("input[name=login]").fill("Dave@Example.com");
    await page.locator("input[name=password]").fill("anything");
    await page.locator("button[type=submit]").click();
    await page.waitForURL(new RegExp(`/ui/requests/${id}$`));
    expect(await page.locator("header").textContent()).toContain("user:dave@example.com");
    // Group "SRE" from the groups claim is group:sre, which the policy lets approve env in production.
    await page.getByRole("button", { name: /^Approve env/ }).click();
    await page.waitForURL(/done=approved$/);
    const response = await fetch(`${stack.url}/v1/requests/${id}`, {
      headers: { authorization: `Bearer ${stack.tokens.alice!.token}` },
    });
    const { request } = (await response.json()) as { request: { approvals: { subject: string }[] } };
    expect(request.approvals.map((a) => a.subject)).toEqual(["user:dave@example.com"]);
    // A callback that did not start in this browser is refused.
    const forged = await page.goto(`${stack.url}/ui/login/callback?code=x&state=y`);
    expect(forged?.status()).toBe(401);
  });
});

/**
 * `keyhole …` started, its stderr watched: resolves `said` with the first match of `pattern` (the
 * address it tells a person to open), and `done` when it exits.
 */
function keyholeTelling(args: readonly string[], env: Record<string, string>, pattern: RegExp) {
  const child = spawn(process.execPath, [KEYHOLE_BIN, ...args], { env: { PATH: process.env.PATH, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  const said = new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      const match = pattern.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.on("close", () => reject(new Error(`keyhole exited without saying it: ${stderr}`)));
  });
  const done = once(child, "close").then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { said, done };
}

/** `keyhole …` with `input` on stdin (runKeyhole gives none), or under `script` for a terminal. */
async function keyholeWith(
  args: readonly string[],
  env: Record<string, string | undefined>,
  input: string,
  tty = false,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = tty
    ? spawn(
        "script",
        ["-qec", [process.execPath, KEYHOLE_BIN, ...args].map((a) => `'${a}'`).join(" "), "/dev/null"],
        {
          env: { PATH: process.env.PATH, TERM: "dumb", ...env },
        },
      )
    : spawn(process.execPath, [KEYHOLE_BIN, ...args], { env: { PATH: process.env.PATH, ...env } });
  let stdout = "";
  let stderr = "";
  command.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  command.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  // Under `script` the answer must come after the question, as a person types it.
  if (tty) setTimeout(() => command.stdin.end(input), 1500);
  else command.stdin.end(input);
  const [code] = (await once(command, "close")) as [number | null];
  return { code, stdout, stderr };
}

describe("the CLI shows what is approved", () => {
  it("requests and status show requester, reason, ticket, params, expiry and approvals", async () => {
    const id = await file("alice", "log-tail", "cli: table view", { file: "app.log", lines: 7 });
    const listed = await stack.keyhole(["requests", "--status", "pending"], stack.as("bob"));
    expect(listed.code, listed.stderr).toBe(0);
    const [header, ...rows] = listed.stdout.trim().split("\n");
    expect(header!.split(/\s{2,}/)).toEqual([
      "ID",
      "STATUS",
      "ACTION",
      "TARGET",
      "REQUESTER",
      "REASON",
      "TICKET",
      "PARAMS",
      "EXPIRES",
      "APPROVALS",
    ]);
    const row = rows.find((r) => r.startsWith(id));
    expect(row).toMatch(
      /user:alice@example\.com\s+cli: table view\s+INC-77\s+file=app\.log lines=7\s+in \d+m\s+0\/1$/,
    );
    const status = await stack.keyhole(["status", id], stack.as("bob"));
    expect(status.stdout).toMatch(/requester:\s+user:alice@example\.com/);
    expect(status.stdout).toMatch(/reason:\s+cli: table view/);
    expect(status.stdout).toMatch(/params:\s+file=app\.log lines=7/);
  });

  it("approve prints the request and asks on a terminal; --yes and scripts do not ask", async () => {
    const id = await file("alice", "log-tail", "cli: confirm me", { file: "app.log" });
    const no = await keyholeWith(["approve", id], stack.as("bob"), "n\n", true);
    expect(no.code).not.toBe(0);
    expect(no.stdout).toMatch(
      /reason:\s+cli: confirm me[\s\S]*Approve log-tail on production\/shop\/shop-0 for user:alice@example\.com\? \[y\/N\]/,
    );
    expect(await statusOf(id)).toBe("pending");
    const yes = await keyholeWith(["approve", id, "--yes"], stack.as("bob"), "", true);
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).not.toContain("[y/N]");
    expect(await statusOf(id)).not.toBe("pending");
  });

  it("run --wait says at once that it needs approval, who may approve and the console link", async () => {
    const waiting = stack.keyhole(
      ["run", "process-info", "--target", AGENT, "--reason", "cli: wait for me", "--wait", "--timeout", "60"],
      stack.as("carol"),
      60_000,
    );
    // Carol's request appears; bob approves it through the API as soon as it does.
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      const listed = await fetch(`${stack.url}/v1/requests?status=pending`, {
        headers: { authorization: `Bearer ${stack.tokens.bob!.token}` },
      });
      const { requests } = (await listed.json()) as { requests: { id: string; reason: string }[] };
      id = requests.find((r) => r.reason === "cli: wait for me")?.id;
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    expect(id).toBeDefined();
    const approved = await fetch(`${stack.url}/v1/requests/${id}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.tokens.bob!.token}` },
    });
    expect(approved.status).toBe(200);
    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain("waiting for approval: 0/1 in production");
    expect(done.stderr).toMatch(/may approve: group:sre, group:support — not you/);
    expect(done.stderr).toContain(`console:     ${stack.url}/ui/requests/${id}`);
  });

  it("keyhole login signs in with the same OpenID provider: in a browser through a loopback redirect, and with the device flow", async () => {
    const config = stack.path("cli-oidc", "config.json");
    const base = { KEYHOLE_CONFIG: config };
    const oidc = ["--url", stack.url, "--issuer", provider.url, "--client-id", "keyhole", "--json"];
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();

    // The browser flow: the CLI listens on 127.0.0.1 and prints the provider's page to open.
    const browserLogin = keyholeTelling(
      ["login", ...oidc, "--profile", "sso", "--no-browser"],
      base,
      /^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m,
    );
    const authorize = new URL(await browserLogin.said);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("redirect_uri")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    await page.goto(authorize.href);
    await page.locator("input[name=login]").fill("Dave@Example.com");
    await page.locator("input[name=password]").fill("anything");
    await page.locator("button[type=submit]").click();
    await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
    expect(await page.textContent("body")).toContain("Signed in");
    const signedIn = await browserLogin.done;
    expect(signedIn.code, signedIn.stderr).toBe(0);
    expect(JSON.parse(signedIn.stdout)).toMatchObject({
      profile: "sso",
      subject: "user:dave@example.com",
      groups: ["sre"],
      issuer: provider.url,
    });
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const who = await stack.keyhole(["whoami", "--json"], { ...base, KEYHOLE_PROFILE: "sso" });
    expect(JSON.parse(who.stdout)).toMatchObject({ subject: "user:dave@example.com", groups: ["sre"] });

    // The device flow: a code to enter elsewhere (here the same browser, already signed in there).
    const deviceLogin = keyholeTelling(
      ["login", ...oidc, "--profile", "device", "--device"],
      base,
      /\(or open (http:\/\/\S+)\)/,
    );
    await page.goto(await deviceLogin.said);
    await page.getByRole("button", { name: "Continue" }).click();
    const login = page.locator("input[name=login]");
    await page.waitForLoadState();
    if ((await login.count()) > 0) {
      await login.fill("Dave@Example.com");
      await page.locator("input[name=password]").fill("anything");
      await page.locator("button[type=submit]").click();
    }
    await page
      .getByText(/Sign-in Success|successfully signed in/i)
      .first()
      .waitFor();
    const device = await deviceLogin.done;
    expect(device.code, device.stderr).toBe(0);
    expect(device.stderr).toMatch(/enter the code [A-Z-]+/);
    expect(JSON.parse(device.stdout)).toMatchObject({ profile: "device", subject: "user:dave@example.com" });
  }, 60_000);

  it("login saves the URL and token per profile (0600); whoami; KEYHOLE_TOKEN wins; logout forgets; --json errors are JSON", async () => {
    const config = stack.path("cli-config", "config.json");
    const base = { KEYHOLE_CONFIG: config };
    const login = await keyholeWith(
      ["login", "--url", stack.url, "--profile", "prod", "--token-stdin"],
      base,
      `${stack.tokens.bob!.token}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain("as user:bob@example.com (profile prod");
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const who = await stack.keyhole(["whoami", "--json"], { ...base, KEYHOLE_PROFILE: "prod" });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({
      subject: "user:bob@example.com",
      groups: ["sre"],
      url: stack.url,
    });
    // The environment wins over the saved profile.
    const env = await stack.keyhole(["whoami"], { ...base, KEYHOLE_PROFILE: "prod", ...stack.as("carol") });
    expect(env.stdout).toMatch(/^user:carol@example\.com[\s\S]*credentials: KEYHOLE_TOKEN/);
    // Console attack F2: a KEYHOLE_URL naming another server does not receive the profile's token.
    const seen: (string | undefined)[] = [];
    const other = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "KH_UNAUTHENTICATED", message: "no" } }));
    });
    other.listen(0, "127.0.0.1");
    await once(other, "listening");
    const otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
    const elsewhere = await keyholeWith(
      ["requests"],
      { ...base, KEYHOLE_PROFILE: "prod", KEYHOLE_URL: otherUrl },
      "",
    );
    other.close();
    expect(elsewhere.code).not.toBe(0);
    expect(seen.every((header) => header === undefined)).toBe(true);
    expect(`${elsewhere.stdout}${elsewhere.stderr}`).not.toContain(stack.tokens.bob!.token);
    // A bad token is not saved.
    const bad = await keyholeWith(
      ["login", "--url", stack.url, "--token-stdin", "--json"],
      base,
      "kh_nope\n",
    );
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: "KH_UNAUTHENTICATED" } });
    const out = await stack.keyhole(["logout", "--profile", "prod"], base);
    expect(out.stdout).toContain("signed out of profile prod");
    const after = await stack.keyhole(["whoami", "--json"], { ...base, KEYHOLE_PROFILE: "prod" });
    expect(after.code).toBe(2);
    expect(JSON.parse(after.stdout)).toEqual({
      error: { code: "KH_USAGE", message: expect.stringContaining("not signed in"), exitCode: 2 },
    });
  });
});
