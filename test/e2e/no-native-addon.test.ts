/**
 * keyhole needs no native addon at run time (issue 22): nothing to compile at install, nothing
 * linked against one Node ABI or one glibc in an image, nothing more for a scanner to report.
 *
 * 1. The production dependency tree (package-lock.json without dev packages, as `npm ci --omit=dev`
 *    installs it) holds no `.node` file, no `binding.gyp` and no platform-specific binary package.
 * 2. A real controller and a real agent, after serving a request end to end (the controller's
 *    SQLite store written, the agent's action run), have no `.node` file mapped in
 *    /proc/<pid>/maps.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Stack } from "../helpers/stack.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface LockPackage {
  readonly dev?: boolean;
  readonly os?: string[];
  readonly cpu?: string[];
  readonly gypfile?: boolean;
}

/**
 * What in the production packages of the project at `root` (its package-lock.json and installed
 * node_modules) is native: `.node` files, `binding.gyp` files, packages built with node-gyp, and
 * packages for one OS or CPU only (how prebuilt binaries are shipped).
 */
async function nativeInProduction(root: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockPackage>;
  };
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // an optional package not installed on this platform: its lockfile entry is checked
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // Nested packages are lockfile entries of their own, walked (or not) on their own account.
      if (entry.isDirectory() && entry.name !== "node_modules") await walk(path);
      else if (entry.isFile() && (entry.name.endsWith(".node") || entry.name === "binding.gyp"))
        found.push(path.slice(root.length));
    }
  };
  for (const [path, pkg] of Object.entries(lock.packages)) {
    if (path === "" || pkg.dev) continue;
    if (pkg.gypfile) found.push(`${path} (built with node-gyp)`);
    if (pkg.os || pkg.cpu) found.push(`${path} (only for os ${pkg.os ?? "any"}, cpu ${pkg.cpu ?? "any"})`);
    await walk(join(root, path));
  }
  return found;
}

describe("the production dependency tree", () => {
  it("holds no native addon", async () => {
    expect(await nativeInProduction(ROOT)).toEqual([]);
  });

  it("the check sees one: a .node file, a binding.gyp, a node-gyp build and a platform package", async () => {
    const root = await mkdtemp(join(tmpdir(), "keyhole-native-fixture-"));
    try {
      const addon = join(root, "node_modules", "addon");
      await mkdir(join(addon, "build", "Release"), { recursive: true });
      await mkdir(join(root, "node_modules", "tool"), { recursive: true });
      await writeFile(join(addon, "build", "Release", "addon.node"), "");
      await writeFile(join(addon, "binding.gyp"), "{}");
      await writeFile(join(root, "node_modules", "tool", "tool.node"), "");
      await writeFile(
        join(root, "package-lock.json"),
        JSON.stringify({
          packages: {
            "": {},
            "node_modules/addon": { gypfile: true },
            "node_modules/prebuilt-linux-arm64": { os: ["linux"], cpu: ["arm64"] },
            "node_modules/tool": { dev: true },
          },
        }),
      );
      expect((await nativeInProduction(`${root}/`)).sort()).toEqual([
        "node_modules/addon (built with node-gyp)",
        "node_modules/addon/binding.gyp",
        "node_modules/addon/build/Release/addon.node",
        "node_modules/prebuilt-linux-arm64 (only for os linux, cpu arm64)",
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("a running controller and agent", () => {
  const stack = new Stack("no-native");
  beforeAll(async () => {
    await stack.start({
      workload: {},
      agents: [{ id: "staging/shop/shop-0", environment: "staging" }],
      policy:
        'environments:\n  staging: { approvals: 0 }\nroles:\n  sre: { actions: ["*"] }\nbindings:\n  - { subjects: ["group:sre"], role: sre, environments: ["*"] }\n',
      controller: {},
      tokens: { alice: { subject: "user:alice@example.com", groups: ["sre"] } },
    });
    const run = await stack.keyhole(
      [
        "run",
        "process-info",
        "--target",
        "staging/shop/shop-0",
        "--reason",
        "no native addon",
        "--wait",
        "--json",
      ],
      stack.as("alice"),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).request.status).toBe("completed");
  }, 60_000);
  afterAll(() => stack.stop());

  /** The files a process has mapped (its executable, shared libraries, any loaded addon). */
  const mappedFiles = async (pid: number) =>
    new Set(
      (await readFile(`/proc/${pid}/maps`, "utf8"))
        .split("\n")
        .map((line) => line.split(/\s+/).slice(5).join(" "))
        .filter((path) => path.startsWith("/")),
    );

  it("have no .node file mapped after serving a request (the store written, the action run)", async () => {
    for (const service of [stack.controller!, stack.agent("staging/shop/shop-0")]) {
      const files = await mappedFiles(service.pid);
      // The read itself works: the process's own executable is among its mappings.
      expect(files.has(process.execPath), `${service.name} maps ${[...files].join(", ")}`).toBe(true);
      expect([...files].filter((f) => f.endsWith(".node"))).toEqual([]);
    }
  });
});
