/**
 * What the agent image holds: the agent-only entry (cli/agent-main.ts, compiled to dist/) bundled
 * by esbuild into a handful of ES module files, with nothing else of the tree and no node_modules.
 *
 * - One entry file, `keyhole.mjs`, answers `keyhole agent …` (and `--help`) like the full CLI.
 * - Node's built-ins are reached through `require` (see builtinsThroughRequire).
 * - Code split at every dynamic import, so what the agent loads only when first used (the inspector
 *   client, tar-stream, the S3 sink, OpenTelemetry) stays in chunks of its own that are never read
 *   at start.
 * - Whitespace and syntax minified, names kept: a stack trace still names its functions. No source
 *   maps: the image holds only what the agent loads (and the licence notices).
 * - `THIRD-PARTY-NOTICES.txt` lists every bundled package with its version, licence and licence
 *   text: bundling drops the packages' own LICENSE files.
 *
 * Left out on purpose (resolved at run time, and absent from the image):
 * - Fastify's JSON Schema compilers: the agent gives Fastify stand-ins (agent/app.ts), so Fastify
 *   never requires them;
 * - ws's optional native helpers (`bufferutil`, `utf-8-validate`): ws falls back to JavaScript.
 *
 * `node dist/deploy/agent-bundle.js OUT_DIR` stages the agent (the Dockerfile's agent target);
 * test/deploy/agent-bundle.test.ts checks what it holds and runs it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile, type Plugin } from "esbuild";

/** The package root, from dist/deploy/ or deploy/. */
export const ROOT = fileURLToPath(
  new URL(import.meta.url.includes("/dist/") ? "../../" : "../", import.meta.url),
);

/** The staged entry file, relative to the staged folder. */
export const AGENT_ENTRY_FILE = "keyhole.mjs";

/**
 * The node options the agent image runs its entry with (the Dockerfile's ENTRYPOINT; the
 * agent-http bench starts the staged agent with them too). A young generation of 1 MiB semi-spaces
 * instead of V8's default of up to 16 MiB: start-up's allocation otherwise grows the new space to
 * 4 MiB semi-spaces, and an idle sidecar keeps them (idle RSS ~79 MB → ~70 MB, median of 3 each).
 * An agent's requests allocate little that lives, so scavenging more often costs nothing measured:
 * CPU per process-info and per 194 MB heap snapshot unchanged within noise, the snapshot's RSS
 * growth 55 MB instead of 68 MB (`npm run bench -- heap-snapshot` with and without the option).
 */
export const AGENT_NODE_OPTIONS = ["--max-semi-space-size=1"] as const;

/** Bare specifiers the bundle leaves to run time; none of them is in the image (see above). */
export const LEFT_OUT = [
  "@fastify/ajv-compiler",
  "@fastify/fast-json-stringify-compiler",
  "bufferutil",
  "utf-8-validate",
] as const;

/**
 * ES modules have no `require`; the CommonJS packages inside the bundle (Fastify, pino, …) call it
 * for Node's built-in modules, so each output file gets one made for it.
 */
const REQUIRE_BANNER =
  'import { createRequire as __keyholeCreateRequire } from "node:module"; const require = __keyholeCreateRequire(import.meta.url);';

/**
 * Node's built-in modules reached through `require` rather than `import`. An ES module import of a
 * built-in builds an ES module facade that reads every export, getters included, and on Node 24
 * `node:http`'s getters (`WebSocket`, `CloseEvent`, `MessageEvent`) load undici, Node's fetch
 * client: ~30–50 ms of CPU at every start for code the agent never calls. `require` returns the
 * module object itself and leaves its getters alone; esbuild binds each imported name to a property
 * read at the point of use, so the code behaves the same.
 */
const builtinsThroughRequire: Plugin = {
  name: "builtins-through-require",
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      args.kind === "import-statement" && isBuiltin(args.path)
        ? { path: args.path, namespace: "builtin" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

export interface StagedFile {
  /** Relative to the staged folder. */
  readonly path: string;
  readonly bytes: number;
}

/** One staged module file, from esbuild's account of it. */
export interface StagedModule {
  /** Relative to the staged folder. */
  readonly path: string;
  /** The source it was built for when it is the target of an entry or a dynamic import. */
  readonly entryPoint: string | undefined;
  /** Its imports: staged paths, or the specifier itself for what is left to run time. */
  readonly imports: readonly {
    readonly path: string;
    readonly kind: string;
    readonly external: boolean;
  }[];
  /** The sources (relative to the package root) whose code it holds. */
  readonly inputs: readonly string[];
}

export interface StagedAgent {
  readonly dir: string;
  /** Absolute path of the entry file. */
  readonly entry: string;
  /** esbuild's account of every input and output (paths relative to the package root). */
  readonly metafile: Metafile;
  readonly modules: readonly StagedModule[];
  readonly files: readonly StagedFile[];
  /** Bundled packages, `name@version`, sorted. */
  readonly packages: readonly string[];
}

function listFiles(dir: string, base = dir): StagedFile[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(path, base);
    return [{ path: relative(base, path), bytes: statSync(path).size }];
  });
}

/** The package folder (`node_modules/x` or `node_modules/@s/x`, possibly nested) of a bundled input. */
function packageDirOf(input: string): string | undefined {
  const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return match?.[1];
}

const LICENCE_FILE = /^(licen[cs]e|copying|notice)(\.md|\.txt)?$/i;

/** One section per bundled package: name, version, licence field and its licence file(s). */
function thirdPartyNotices(
  root: string,
  packageDirs: readonly string[],
): { text: string; packages: string[] } {
  const sections: string[] = [];
  const packages: string[] = [];
  for (const dir of packageDirs) {
    const manifest = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as {
      name: string;
      version: string;
      license?: string;
    };
    const id = `${manifest.name}@${manifest.version}`;
    packages.push(id);
    const texts = readdirSync(join(root, dir))
      .filter((name) => LICENCE_FILE.test(name))
      .sort()
      .map((name) => readFileSync(join(root, dir, name), "utf8").trim());
    sections.push(
      [`${id} (${manifest.license ?? "licence not declared"})`, ...texts].join("\n\n").concat("\n"),
    );
  }
  const header = "Third-party packages bundled into the keyhole agent, with their licences.\n";
  return { text: [header, ...sections].join(`\n${"-".repeat(78)}\n\n`), packages };
}

/**
 * Bundles the agent into `outDir` (emptied first) from the compiled tree under `root` (dist/ must be
 * built). Resolves with what was staged.
 */
export async function stageAgent(
  outDir: string,
  { root = ROOT }: { root?: string } = {},
): Promise<StagedAgent> {
  const entryPoint = join(root, "dist/cli/agent-main.js");
  if (!existsSync(entryPoint)) throw new Error(`${entryPoint} is missing: run \`npm run build\` first`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { keyhole: entryPoint },
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    banner: { js: REQUIRE_BANNER },
    external: [...LEFT_OUT],
    plugins: [builtinsThroughRequire],
    metafile: true,
    logLevel: "silent",
  });
  if (result.warnings.length > 0) {
    throw new Error(`esbuild warned: ${result.warnings.map((w) => w.text).join("; ")}`);
  }
  const packageDirs = [
    ...new Set(Object.keys(result.metafile.inputs).flatMap((input) => packageDirOf(input) ?? [])),
  ].sort();
  const notices = thirdPartyNotices(root, packageDirs);
  writeFileSync(join(outDir, "THIRD-PARTY-NOTICES.txt"), notices.text);
  const staged = (output: string) => relative(outDir, resolve(root, output));
  const modules = Object.entries(result.metafile.outputs)
    .filter(([output]) => output.endsWith(".mjs"))
    .map(([output, info]) => ({
      path: staged(output),
      entryPoint: info.entryPoint,
      imports: info.imports.map((i) => ({
        path: i.external ? i.path : staged(i.path),
        kind: i.kind,
        external: i.external === true,
      })),
      inputs: Object.keys(info.inputs),
    }));
  return {
    dir: outDir,
    entry: join(outDir, AGENT_ENTRY_FILE),
    metafile: result.metafile,
    modules,
    files: listFiles(outDir).sort((a, b) => a.path.localeCompare(b.path)),
    packages: notices.packages,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write("usage: node dist/deploy/agent-bundle.js OUT_DIR\n");
    process.exit(2);
  }
  const staged = await stageAgent(outDir);
  const code = staged.files.filter((f) => f.path.endsWith(".mjs"));
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  process.stdout.write(
    `${staged.entry}: ${code.length} module files, ${kib(code.reduce((n, f) => n + f.bytes, 0))}; ` +
      `${staged.packages.length} packages bundled; ${staged.files.length} files in ${dirname(staged.entry)}\n`,
  );
}
