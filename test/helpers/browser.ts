/**
 * A real browser for the console's tests: Debian's chromium (`apt-get install chromium`; .ci/run
 * installs it) driven by playwright-core, headless and kept off the network. One launch per test
 * file; each person gets their own context (their own cookies). The tests fail, not skip, without it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

const require = createRequire(import.meta.url);

/** Where tests keep what a person should look at (screenshots); gitignored. */
export const TEST_ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

export function artifactPath(...segments: string[]): string {
  const file = join(TEST_ARTIFACTS, ...segments);
  mkdirSync(join(file, ".."), { recursive: true });
  return file;
}

function chromiumPath(): string {
  const configured = process.env.KEYHOLE_TEST_CHROMIUM;
  if (configured) return configured;
  try {
    return execFileSync("which", ["chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("no chromium on PATH: apt-get install -y chromium (or set KEYHOLE_TEST_CHROMIUM)");
  }
}

/** Launches chromium headless, without a sandbox (containers), GPU or any background traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-default-apps",
      "--disable-sync",
      "--metrics-recording-only",
    ],
  });
}

/** Signs in to the console at `baseUrl` with a controller-issued token, as a person would. */
export async function signIn(context: BrowserContext, baseUrl: string, token: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/ui/inbox`);
  // Not signed in: the console sends us to its login page, which remembers where we were going.
  await page.getByLabel(/Controller-issued token/).fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/ui\/inbox$/);
  return page;
}

const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/**
 * axe-core's violations on the page (WCAG 2.x A and AA rules). Injected through the DevTools
 * protocol, which the page's CSP does not govern, so the page keeps its real policy.
 */
export async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: string[] }[]> {
  await page.evaluate(AXE_SOURCE);
  // A string, evaluated in the page: the tests are type-checked without the DOM library.
  const violations = await page.evaluate<{ id: string; help: string; nodes: { target: string[] }[] }[]>(`
    axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      resultTypes: ["violations"],
    }).then((result) => result.violations)`);
  return violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }));
}
