/**
 * The Dockerfile cannot be built here (no container engine), so its contract is checked against
 * the tree: a build stage and two runtime stages (`agent`, `controller`), each on a Node 24 base
 * pinned by digest; the runtime stages without a shell, as a numeric non-root user, with OCI
 * labels; what they copy exists in the built output; the agent stage holds only the staged bundle
 * (test/deploy/agent-bundle.test.ts checks what that holds); the build context admits every source
 * the build copies; and the manifests run each container from the image that has its program.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AGENT_ENTRY_FILE, AGENT_NODE_OPTIONS } from "../../deploy/agent-bundle.js";
import { find, OVERLAYS, ROOT, render } from "./render.js";
import { allContainers, isAgent } from "./security-rules.js";

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === "FROM") {
      const [, from = "", name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ from, name, instructions: [] });
    } else stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

/** `COPY [--flag…] SRC… DEST` → its sources, its destination and the `--from` stage. */
function copyOf(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** `LABEL k="v" k2="v2"` → { k: v, … } */
function labelsOf(stage: Stage): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const { args } of stage.instructions.filter((i) => i.op === "LABEL")) {
    for (const [, key, value] of args.matchAll(/([\w.-]+)="([^"]*)"/g)) labels[key!] = value!;
  }
  return labels;
}

const dockerfile = readFileSync(`${ROOT}Dockerfile`, "utf8");
const stages = parseDockerfile(dockerfile);
const stage = (name: string) => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name}`);
  return found;
};
const build = stage("build");
const runtimes = ["agent", "controller"] as const;
const copies = (s: Stage) => s.instructions.filter((i) => i.op === "COPY").map((i) => copyOf(i.args));
const entrypoint = (s: Stage) =>
  JSON.parse(s.instructions.findLast((i) => i.op === "ENTRYPOINT")?.args ?? "[]") as string[];
const runs = (s: Stage) => s.instructions.filter((i) => i.op === "RUN").map((i) => i.args);

const DIGEST = /@sha256:[0-9a-f]{64}$/;

describe("Dockerfile", () => {
  it("has a build stage and the agent and controller stages, on Node 24 bases pinned by digest", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", "agent", "controller"]);
    expect(build.from).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    for (const name of runtimes) {
      expect(stage(name).from).toMatch(
        /^gcr\.io\/distroless\/nodejs24-debian12:nonroot@sha256:[0-9a-f]{64}$/,
      );
    }
    // `docker build .` without --target builds the last stage: the full controller image, as before.
    expect(stages.at(-1)!.name).toBe("controller");
  });

  it("builds without compilers or a package manager of the OS (no native addon to compile)", () => {
    expect(runs(build).join(" ")).not.toMatch(/apt-get|apk |g\+\+|python|make /);
  });

  it.each(runtimes)("runs the %s stage without a shell, as a numeric non-root user", (name) => {
    // distroless has no /bin/sh: a RUN there could not work, and nothing should need one.
    expect(runs(stage(name))).toEqual([]);
    const user = stage(name).instructions.findLast((i) => i.op === "USER")?.args ?? "";
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(":").map(Number)).not.toContain(0);
    expect(entrypoint(stage(name))[0]).toBe("/nodejs/bin/node");
  });

  it.each(runtimes)("labels the %s image with the OCI annotations, its base and digest included", (name) => {
    const labels = labelsOf(stage(name));
    expect(labels["org.opencontainers.image.title"]).toBe(`keyhole-${name}`);
    for (const key of ["description", "version", "revision", "licenses"]) {
      expect(labels[`org.opencontainers.image.${key}`], key).toBeTruthy();
    }
    expect(labels["org.opencontainers.image.licenses"]).toBe(
      (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { license: string }).license,
    );
    const from = stage(name).from;
    expect(labels["org.opencontainers.image.base.name"]).toBe(from.replace(DIGEST, ""));
    expect(`@${labels["org.opencontainers.image.base.digest"]}`).toBe(DIGEST.exec(from)?.[0]);
  });

  it("gives the agent stage the staged bundle alone, made by deploy/agent-bundle.ts in the build stage", () => {
    const agent = stage("agent");
    const agentCopies = copies(agent);
    expect(agentCopies.map((c) => [c.from, c.sources, c.dest])).toEqual([["build", ["/out/agent"], "/app"]]);
    expect(runs(build).join(" ")).toContain("node dist/deploy/agent-bundle.js /out/agent");
    // The bundle is made before the prune (esbuild is a dev dependency) and from the compiled tree.
    const run = runs(build).join(" ");
    expect(run.indexOf("npm ci")).toBeLessThan(run.indexOf("agent-bundle.js"));
    expect(run.indexOf("agent-bundle.js")).toBeLessThan(run.indexOf("npm prune"));
    expect(existsSync(`${ROOT}dist/deploy/agent-bundle.js`)).toBe(true);
    // With the node options the bench measures the staged agent with.
    expect(entrypoint(agent)).toEqual([
      "/nodejs/bin/node",
      ...AGENT_NODE_OPTIONS,
      `/app/${AGENT_ENTRY_FILE}`,
    ]);
  });

  it("copies into the controller stage only files that exist in the built output, no bench or deploy code", () => {
    const fromBuild = copies(stage("controller"))
      .filter((c) => c.from === "build")
      .flatMap((c) => c.sources);
    for (const source of fromBuild.filter((s) => s.startsWith("/app/"))) {
      expect(existsSync(`${ROOT}${source.slice("/app/".length)}`), source).toBe(true);
    }
    expect(fromBuild).toEqual(
      expect.arrayContaining([
        "/app/package.json",
        "/app/node_modules",
        "/app/dist/controller",
        "/app/dist/agent",
        "/app/dist/cli",
        "/app/examples",
      ]),
    );
    expect(fromBuild.filter((s) => /^\/app\/dist\/?$|dist\/(bench|deploy|test)/.test(s))).toEqual([]);
  });

  it("has a controller entry point that reaches the CLI's agent and controller commands", () => {
    const controller = stage("controller");
    expect(entrypoint(controller)).toEqual(["/nodejs/bin/node", "/app/bin/keyhole.js"]);
    expect(copies(controller).some((c) => c.sources.includes("/app/bin"))).toBe(true);
    // bin/keyhole.js loads ../dist/cli/main.js, which the image copies.
    expect(readFileSync(`${ROOT}bin/keyhole.js`, "utf8")).toContain("../dist/cli/main.js");
    for (const command of ["agent", "controller"]) {
      const help = execFileSync(process.execPath, [`${ROOT}bin/keyhole.js`, command, "--help"], {
        encoding: "utf8",
      });
      expect(help).toContain(`keyhole ${command}`);
    }
  });

  it("copies into the build every source the TypeScript build compiles, all admitted by .dockerignore", () => {
    const copied = copies(build).flatMap((c) => c.sources);
    for (const source of copied) expect(existsSync(`${ROOT}${source}`), source).toBe(true);
    const tsconfig = JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, "utf8")) as { include: string[] };
    for (const folder of tsconfig.include) {
      expect(
        copied.some((s) => s === folder || s.startsWith(`${folder}/`)),
        folder,
      ).toBe(true);
    }
    // .dockerignore is an allowlist: `*`, then `!path` for each thing the build copies.
    const ignore = readFileSync(`${ROOT}.dockerignore`, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    for (const source of copied) expect(ignore, source).toContain(`!${source}`);
    // Only the bundler of deploy/: the manifests and overlays stay out of the build context.
    expect(ignore.filter((l) => l.startsWith("!deploy"))).toEqual(["!deploy/agent-bundle.ts"]);
  });
});

describe.each(OVERLAYS)("overlays/%s", (environment) => {
  const objects = render(environment);
  const workload = find(objects, "StatefulSet", "payments").spec.template.spec;
  const controller = find(objects, "Deployment", "keyhole-controller").spec.template.spec;
  const imageName = (image: string) => image.replace(/[:@].*$/, "").replace(/^.*\//, "");

  it("runs the agent from the agent image, the controller and the example workload from the controller image", () => {
    const agent = allContainers(workload).find(isAgent);
    const app = allContainers(workload).find((c: { name: string }) => c.name === "app");
    expect(imageName(agent.image)).toBe("keyhole-agent");
    expect(imageName(app.image)).toBe("keyhole-controller");
    expect(imageName(controller.containers[0].image)).toBe("keyhole-controller");
  });

  it("runs the example workload from a file the controller image has, with the image's node", () => {
    const app = allContainers(workload).find((c: { name: string }) => c.name === "app");
    expect(app.command[0]).toBe(entrypoint(stage("controller"))[0]);
    expect(app.command[1]).toMatch(/^\/app\/examples\//);
    expect(copies(stage("controller")).flatMap((c) => c.sources)).toContain("/app/examples");
    expect(existsSync(`${ROOT}${app.command[1].slice("/app/".length)}`)).toBe(true);
  });
});
