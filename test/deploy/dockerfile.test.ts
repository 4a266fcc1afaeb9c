/**
 * The Dockerfile cannot be built here (no container engine), so its contract is checked against
 * the tree: what it copies exists in the built output, the entry point reaches the CLI, the build
 * context admits every source it copies, and the final stage runs as a numeric non-root user
 * without a shell.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { find, ROOT, render } from "./render.js";

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

/** `COPY [--flag…] SRC… DEST` → its sources and the `--from` stage. */
function copySources(args: string): { from: string | undefined; sources: string[] } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const paths = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: paths.slice(0, -1) };
}

const dockerfile = readFileSync(`${ROOT}Dockerfile`, "utf8");
const stages = parseDockerfile(dockerfile);
const build = stages[0]!;
const final = stages.at(-1)!;
const finalCopies = final.instructions.filter((i) => i.op === "COPY").map((i) => copySources(i.args));
const entrypoint = JSON.parse(
  final.instructions.find((i) => i.op === "ENTRYPOINT")?.args ?? "[]",
) as string[];

describe("Dockerfile", () => {
  it("is multi-stage, the final stage built on Node 22 without a shell", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe("build");
    expect(final.from).toMatch(/nodejs22|node:22/);
    // distroless has no /bin/sh: a RUN there could not work, and nothing should need one.
    expect(final.instructions.filter((i) => i.op === "RUN")).toEqual([]);
  });

  it("runs the final stage as a numeric non-root user", () => {
    const user = final.instructions.filter((i) => i.op === "USER").at(-1)?.args ?? "";
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(":").map(Number)).not.toContain(0);
  });

  it("copies from the build stage only files that exist in the built output", () => {
    const fromBuild = finalCopies.filter((c) => c.from === "build").flatMap((c) => c.sources);
    expect(fromBuild.length).toBeGreaterThan(0);
    for (const source of fromBuild.filter((s) => s.startsWith("/app/"))) {
      expect(existsSync(`${ROOT}${source.slice("/app/".length)}`), source).toBe(true);
    }
    // The compiled entry points the CLI loads (the test setup built dist/ as the image's build does).
    for (const built of ["dist/cli/main.js", "dist/agent/main.js", "dist/controller/main.js"]) {
      expect(existsSync(`${ROOT}${built}`), built).toBe(true);
    }
    expect(fromBuild).toEqual(
      expect.arrayContaining(["/app/package.json", "/app/dist", "/app/node_modules"]),
    );
  });

  it("has an entry point that reaches the CLI's agent and controller commands", () => {
    expect(entrypoint).toEqual(["/nodejs/bin/node", "/app/bin/keyhole.js"]);
    const script = entrypoint[1]!;
    const copied = finalCopies.flatMap((c) => c.sources);
    expect(copied.some((s) => script.startsWith(`${s}/`))).toBe(true);
    // bin/keyhole.js loads ../dist/cli/main.js, which the image copies.
    expect(readFileSync(`${ROOT}bin/keyhole.js`, "utf8")).toContain("../dist/cli/main.js");
    for (const command of ["agent", "controller"]) {
      const help = execFileSync(process.execPath, [`${ROOT}bin/keyhole.js`, command, "--help"], {
        encoding: "utf8",
      });
      expect(help).toContain(`keyhole ${command}`);
    }
  });

  it("copies into the build every source folder the TypeScript build compiles, all admitted by .dockerignore", () => {
    const copied = build.instructions
      .filter((i) => i.op === "COPY")
      .flatMap((i) => copySources(i.args).sources);
    for (const source of copied) expect(existsSync(`${ROOT}${source}`), source).toBe(true);
    const tsconfig = JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, "utf8")) as { include: string[] };
    expect(copied).toEqual(expect.arrayContaining(tsconfig.include));
    // .dockerignore is an allowlist: `*`, then `!path` for each thing the build copies.
    const ignore = readFileSync(`${ROOT}.dockerignore`, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    for (const source of copied) expect(ignore, source).toContain(`!${source}`);
  });

  it("runs the example workload from a file the image has, with the image's node", () => {
    const app = find(render("production"), "StatefulSet", "payments").spec.template.spec.containers.find(
      (c: { name: string }) => c.name === "app",
    );
    expect(app.command[0]).toBe(entrypoint[0]);
    expect(app.command[1]).toMatch(/^\/app\/examples\//);
    expect(finalCopies.flatMap((c) => c.sources)).toContain("/app/examples");
    expect(existsSync(`${ROOT}${app.command[1].slice("/app/".length)}`)).toBe(true);
  });
});
