/**
 * The agent image holds what deploy/agent-bundle.ts stages (the Dockerfile's agent target copies
 * that folder and nothing else). No container engine runs here, so the staged folder itself is
 * checked, three ways:
 * - esbuild's account of its inputs: agent, protocol and common code only (no controller, bench,
 *   examples or test code), and no package only the controller uses;
 * - a walk of the import specifiers in the staged files: each is one of the staged files or a
 *   Node built-in, and the inspector client, tar, the S3 sink and OpenTelemetry sit in chunks the
 *   agent reaches only through a dynamic import;
 * - the staged agent run as a real process from a folder with no node_modules anywhere above it:
 *   it answers `--help` exactly as the full CLI does, reads its `KEYHOLE_*` variables, serves a
 *   signed process-info, a bundle (tar) and a cpu-profile (inspector), and exports its span.
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyReplayLog } from "../../agent/replay-log.js";
import {
  AGENT_ENTRY_FILE,
  AGENT_NODE_OPTIONS,
  LEFT_OUT,
  ROOT,
  type StagedAgent,
  stageAgent,
} from "../../deploy/agent-bundle.js";
import { claimsFor, makeSigner, type TestSigner } from "../helpers/envelope.js";
import { type OtlpReceiver, startOtlpReceiver } from "../helpers/otlp-receiver.js";
import { postEnvelope } from "../helpers/post-envelope.js";
import { startWorkload, type Workload } from "../helpers/workload.js";

/** The dependencies the agent's own code imports; every other one in package.json is the controller's. */
const AGENT_PACKAGES = [
  "@nats-io/transport-node",
  "@opentelemetry/api",
  "@opentelemetry/sdk-node",
  "commander",
  "fastify",
  "pino",
  "tar-stream",
  "ws",
  "zod",
];

/** Every package `names` pull in, by the lockfile (by name: nesting and versions set aside). */
function closure(names: readonly string[]): Set<string> {
  const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, "utf8")) as {
    packages: Record<
      string,
      { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
    >;
  };
  const depsOf = new Map<string, string[]>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    const name = path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    if (!path) continue;
    depsOf.set(name, [
      ...(depsOf.get(name) ?? []),
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
    ]);
  }
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of depsOf.get(name) ?? []) visit(dep);
  };
  for (const name of names) visit(name);
  return seen;
}

const manifest = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as {
  dependencies: Record<string, string>;
};
const agentSide = closure(AGENT_PACKAGES);
/** Packages only the controller pulls in (the AWS SDK, pg, the SQLite addon, …): none may be bundled. */
const CONTROLLER_ONLY = [
  ...closure(Object.keys(manifest.dependencies).filter((n) => !AGENT_PACKAGES.includes(n))),
].filter((name) => !agentSide.has(name));

const AGENT_ID = "staging/shop/shop-0";
let dir: string;
let staged: StagedAgent;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyhole-agent-image-"));
  staged = await stageAgent(join(dir, "app"));
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const inputs = () => Object.keys(staged.metafile.inputs);
const packageOf = (input: string) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];

describe("what the agent image holds", () => {
  it("is agent, protocol and common code and the agent's own packages, nothing of the controller", () => {
    // Node's built-ins come in as one-line modules that require them (deploy/agent-bundle.ts).
    const builtins = inputs().filter((i) => i.startsWith("builtin:"));
    for (const input of builtins) expect(isBuiltin(input.slice("builtin:".length)), input).toBe(true);
    const ours = inputs().filter((i) => !i.includes("node_modules/") && !i.startsWith("builtin:"));
    expect(ours.length).toBeGreaterThan(50);
    for (const input of ours) expect(input).toMatch(/^dist\/(agent|protocol|common|cli)\//);
    // Of the CLI, only the agent's entry and what it shares with the full CLI.
    expect(ours.filter((i) => i.startsWith("dist/cli/")).sort()).toEqual([
      "dist/cli/agent-main.js",
      "dist/cli/commands/agent.js",
      "dist/cli/errors.js",
      // whether `--json` already printed its document (run-program.ts's error path)
      "dist/cli/json-output.js",
      "dist/cli/params.js",
      "dist/cli/run-program.js",
    ]);
    expect(CONTROLLER_ONLY).toEqual(expect.arrayContaining(["pg", "@aws-sdk/client-s3", "@smithy/core"]));
    const bundled = new Set(inputs().flatMap((i) => packageOf(i) ?? []));
    expect([...bundled].filter((name) => CONTROLLER_ONLY.includes(name))).toEqual([]);
    // Fastify's JSON Schema compilers stay out (agent/app.ts gives Fastify stand-ins).
    expect(inputs().filter((i) => /node_modules\/(ajv|ajv-formats|fast-uri)\//.test(i))).toEqual([]);
    // The packages the agent does use are in, so the check above looked at a real bundle.
    for (const name of ["fastify", "pino", "zod", "ws", "tar-stream", "@opentelemetry/sdk-node"]) {
      expect(bundled, name).toContain(name);
    }
    // Every bundled package has a notice (and so its licence) in the image.
    const notices = readFileSync(join(staged.dir, "THIRD-PARTY-NOTICES.txt"), "utf8");
    for (const name of bundled) expect(notices, name).toMatch(new RegExp(`^${name}@\\S+ \\(`, "m"));
  });

  it("imports nothing but its own files and Node's built-ins, by esbuild's account", () => {
    const paths = new Set(staged.modules.map((m) => m.path));
    expect(paths).toContain(AGENT_ENTRY_FILE);
    const outside = staged.modules.flatMap((m) =>
      m.imports
        .filter((i) =>
          i.external
            ? !isBuiltin(i.path) && !(LEFT_OUT as readonly string[]).includes(i.path)
            : !paths.has(i.path),
        )
        .map((i) => `${m.path} → ${i.path}`),
    );
    expect(staged.modules.flatMap((m) => m.imports).length).toBeGreaterThan(20);
    expect(outside).toEqual([]);
  });

  it("reaches the inspector client, tar, the S3 sink and OpenTelemetry only through dynamic imports", () => {
    const byPath = new Map(staged.modules.map((m) => [m.path, m]));
    // `keyhole agent` loads the entry, then agent/main.js through a dynamic import: what the two
    // import statically is what the agent holds at start.
    const main = staged.modules.find((m) => m.entryPoint === "dist/agent/main.js");
    expect(main).toBeDefined();
    const atStart = new Set<string>();
    const visit = (path: string) => {
      if (atStart.has(path)) return;
      atStart.add(path);
      for (const i of byPath.get(path)!.imports)
        if (!i.external && i.kind === "import-statement") visit(i.path);
    };
    visit(AGENT_ENTRY_FILE);
    visit(main!.path);
    const loadedAtStart = [...atStart].flatMap((path) => byPath.get(path)!.inputs);
    const lazy = [
      /node_modules\/ws\//,
      /node_modules\/tar-stream\//,
      // The NATS client: only an agent started with --connect loads it (agent/transport/nats.ts).
      /node_modules\/@nats-io\/nats-core\//,
      /^dist\/agent\/transport\/nats\.js$/,
      /node_modules\/@opentelemetry\/sdk-node\//,
      /^dist\/agent\/bundle\/s3-presigned\.js$/,
      /^dist\/agent\/telemetry\/otel\.js$/,
    ];
    for (const pattern of lazy) {
      expect(
        inputs().some((i) => pattern.test(i)),
        `${pattern} is bundled`,
      ).toBe(true);
      expect(
        loadedAtStart.filter((i) => pattern.test(i)),
        `${pattern} is not loaded at start`,
      ).toEqual([]);
    }
    // And the start set is the real agent, not an empty shell.
    expect(loadedAtStart).toEqual(expect.arrayContaining(["dist/agent/app.js", "dist/agent/verify.js"]));
  });
});

/** Runs the staged entry with `args`; resolves with its exit code and output. */
function runStaged(args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [staged.entry, ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the staged agent as a process", () => {
  let signer: TestSigner;
  let workload: Workload;
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    signer = await makeSigner("image-key");
    workload = await startWorkload();
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await workload?.stop();
    await receiver?.close();
  });

  it("runs from a folder with no node_modules in reach", () => {
    for (let at = staged.dir; at !== dirname(at); at = dirname(at)) {
      expect(existsSync(join(at, "node_modules")), at).toBe(false);
    }
  });

  it("answers --help, agent --help and bad configuration exactly as the full CLI does", async () => {
    const full = (args: string[]) =>
      execFileSync(process.execPath, [`${ROOT}bin/keyhole.js`, ...args], { encoding: "utf8" });
    expect((await runStaged(["agent", "--help"])).stdout).toBe(full(["agent", "--help"]));
    const help = await runStaged(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}agent \[options\]/m);
    expect(help.stdout).not.toMatch(/^ {2}controller/m);
    const bad = await runStaged(["agent", "--id", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--environment (KEYHOLE_ENVIRONMENT): is required");
    const other = await runStaged(["controller"]);
    expect(other.code).toBe(2);
  });

  it("starts from KEYHOLE_* variables and serves signed requests: process-info, a bundle, a cpu-profile; its span is exported", async () => {
    const jwks = join(dir, "jwks.json");
    writeFileSync(jwks, JSON.stringify(signer.jwks));
    // Records every module the process loads (by Node's own loader hooks), written at exit.
    const recorder = join(dir, "record-loads.mjs");
    const loadsFile = join(dir, "loads.json");
    writeFileSync(
      recorder,
      `import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";
const loaded = new Set();
registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
process.on("exit", () => writeFileSync(${JSON.stringify(loadsFile)}, JSON.stringify([...loaded])));
`,
    );
    // Its keys were made by this test, so no earlier run can have accepted an envelope: the state
    // dir starts with an empty replay log, which spares the 30 s wait of a start without one (F4).
    createEmptyReplayLog(join(dir, "state"), AGENT_ID);
    const child = spawn(
      process.execPath,
      [...AGENT_NODE_OPTIONS, "--import", recorder, staged.entry, "agent"],
      {
        env: {
          PATH: process.env.PATH,
          KEYHOLE_ID: AGENT_ID,
          KEYHOLE_ENVIRONMENT: "staging",
          KEYHOLE_TRUSTED_KEYS: jwks,
          KEYHOLE_LISTEN: "127.0.0.1:0",
          KEYHOLE_TARGET: String(workload.pid),
          KEYHOLE_STATE_DIR: join(dir, "state"),
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_METRIC_EXPORT_INTERVAL: "60000",
          OTEL_BSP_SCHEDULE_DELAY: "100",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
    });
    const exited = once(child, "exit");
    try {
      const listening = await new Promise<{ url: string; actions: string[] }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not listening in 20 s: ${stderr}`)), 20_000);
        createInterface({ input: child.stdout }).on("line", (line) => {
          const json = JSON.parse(line);
          if (json.msg === "listening") {
            clearTimeout(timer);
            resolve(json);
          }
        });
        child.once("exit", (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      expect(listening.actions).toContain("cpu-profile");
      const port = Number(new URL(listening.url).port);
      const send = async (claims: Record<string, unknown>) => {
        const res = await postEnvelope(port, await signer.sign(claimsFor(claims, { agentId: AGENT_ID })));
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
      };

      const info = await send({ action: "process-info" });
      expect(info.status).toBe(200);
      expect(JSON.parse(info.body.toString()).result.pid).toBe(workload.pid);

      const bundle = await send({
        action: "bundle",
        params: { actions: [{ action: "process-info" }] },
        output: { mode: "stream" },
      });
      expect(bundle.status).toBe(200);
      // A POSIX tar: "ustar" at offset 257 of the first header.
      expect(bundle.body.subarray(257, 262).toString()).toBe("ustar");

      const profile = await send({ action: "cpu-profile", params: { seconds: 1 } });
      expect(profile.status, profile.body.toString()).toBe(200);
      expect(JSON.parse(profile.body.toString()).result.nodes.length).toBeGreaterThan(0);

      const forged = await postEnvelope(
        port,
        `${(await signer.sign(claimsFor({}, { agentId: AGENT_ID }))).slice(0, -4)}AAAA`,
      );
      forged.resume();
      expect(forged.statusCode).toBe(401);

      const deadline = Date.now() + 10_000;
      while (!receiver.spans.some((s) => s.name === "keyhole.agent.request") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const spans = receiver.spans.filter((s) => s.name === "keyhole.agent.request");
      expect(spans.map((s) => s.attributes["keyhole.action"])).toContain("process-info");
      expect(spans[0]!.service).toBe("keyhole-agent");
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    expect(child.exitCode).toBe(0);
    // What it really loaded: its own files and Node's built-ins, the lazy chunks among them.
    const loaded = (JSON.parse(readFileSync(loadsFile, "utf8")) as string[]).filter(
      (url) => url !== pathToFileURL(recorder).href,
    );
    const stagedUrl = pathToFileURL(`${staged.dir}/`).href;
    expect(loaded.filter((url) => !url.startsWith("node:") && !url.startsWith(stagedUrl))).toEqual([]);
    const chunkOf = (input: RegExp) =>
      pathToFileURL(join(staged.dir, staged.modules.find((m) => m.inputs.some((i) => input.test(i)))!.path))
        .href;
    expect(loaded).toEqual(
      expect.arrayContaining([
        pathToFileURL(staged.entry).href,
        chunkOf(/node_modules\/ws\/wrapper\.mjs$/),
        chunkOf(/node_modules\/tar-stream\/index\.js$/),
        chunkOf(/^dist\/agent\/telemetry\/otel\.js$/),
      ]),
    );
  }, 60_000);
});
