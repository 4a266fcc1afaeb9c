/**
 * The import boundaries of `npm run lint` bite. The `lint:deps` command of package.json runs, with
 * the repository's .dependency-cruiser.mjs, on two small trees in a temp dir that mirror the
 * layout: one that keeps every rule (it must pass, having followed every import), and the same tree
 * plus one file per forbidden import (each must be reported, under its rule, and nothing else).
 * The temp dir sits under folders named agent/ and controller/: where a checkout lives must not
 * matter.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const CRUISER = join(ROOT, "node_modules", "dependency-cruiser");
const DEPCRUISE = join(
  CRUISER,
  JSON.parse(readFileSync(join(CRUISER, "package.json"), "utf8")).bin.depcruise,
);

/** Files by path; a file is its lines. */
type Tree = Record<string, string | readonly string[]>;

/** The mini-layout: every import in it is allowed. test/ and bench/ import both programs, unchecked. */
const CLEAN: Tree = {
  "protocol/request.ts": [
    'import { z } from "fake-schema";',
    'import { now } from "./timestamp.js";',
    "export const claims = z(now);",
  ],
  "protocol/timestamp.ts": "export const now = () => Date.now();",
  "common/loopback.ts": [
    'import { isIP } from "node:net";',
    'import type { claims } from "../protocol/request.js";',
    "export const isLoopback = (h: string) => isIP(h) > 0;",
    "export type Claims = typeof claims;",
  ],
  "agent/errors.ts": "export class AgentError extends Error {}",
  "agent/redact/index.ts": [
    'import { createHash } from "node:crypto";',
    'import { claims } from "../../protocol/request.js";',
    'import { mask } from "./mask.js";',
    "export const redact = (s: string) => mask(s, createHash, claims);",
  ],
  "agent/redact/mask.ts": "export const mask = (s: string, ..._: unknown[]) => s;",
  "agent/proc/environ.ts": [
    'import { readFileSync } from "node:fs";',
    'import { isLoopback } from "../../common/loopback.js";',
    'import { now } from "../../protocol/timestamp.js";',
    'import { AgentError } from "../errors.js";',
    'import { stat } from "./stat.js";',
    "export const environ = () => [readFileSync, isLoopback, now, AgentError, stat];",
  ],
  "agent/proc/stat.ts": "export const stat = 1;",
  "agent/runtimes/node/session.ts": [
    'import { isLoopback } from "../../../common/loopback.js";',
    'import { claims } from "../../../protocol/request.js";',
    'import { AgentError } from "../../errors.js";',
    'import { environ } from "../../proc/environ.js";',
    'import { redact } from "../../redact/index.js";',
    'import { wait } from "./wait.js";',
    "export const session = [isLoopback, claims, AgentError, environ, redact, wait];",
  ],
  "agent/runtimes/node/wait.ts": "export const wait = 1;",
  "agent/actions/env.ts": [
    'import { environ } from "../proc/environ.js";',
    'import { redact } from "../redact/index.js";',
    'import { session } from "../runtimes/node/session.js";',
    "export const env = [environ, redact, session];",
  ],
  "agent/verify.ts": ['import { claims } from "../protocol/request.js";', "export const verify = claims;"],
  "agent/run-action.ts": ['import { env } from "./actions/env.js";', "export const runAction = env;"],
  "agent/app.ts": [
    'import { isLoopback } from "../common/loopback.js";',
    'import { runAction } from "./run-action.js";',
    'import { verify } from "./verify.js";',
    "export const app = [isLoopback, runAction, verify];",
  ],
  "agent/main.ts": [
    'export const start = async () => (await import("./app.js")).app;',
    'export const loadOtel = () => import("./telemetry.js");',
  ],
  "agent/telemetry.ts": "export const otel = 1;",
  "controller/keys.ts": [
    'import { z } from "fake-schema";',
    'import { isLoopback } from "../common/loopback.js";',
    'import { claims } from "../protocol/request.js";',
    "export const keys = [z, isLoopback, claims];",
    "export type Key = string;",
  ],
  "controller/main.ts": 'export { keys } from "./keys.js";',
  "cli/main.ts": [
    'import { start } from "../agent/main.js";',
    'import type { Key } from "../controller/keys.js";',
    'export const run = async (k: Key) => [start, k, (await import("../controller/main.js")).keys];',
  ],
  // Not checked: tests and benches drive both programs.
  "test/helpers/stack.ts": [
    'import { app } from "../../agent/app.js";',
    'import { keys } from "../../controller/keys.js";',
    "export const stack = [app, keys];",
  ],
  "bench/lib.ts": [
    'import { env } from "../agent/actions/env.js";',
    'import { keys } from "../controller/keys.js";',
    "export const bench = [env, keys];",
  ],
  "node_modules/fake-schema/package.json":
    '{ "name": "fake-schema", "version": "1.0.0", "main": "index.js" }',
  "node_modules/fake-schema/index.js": "exports.z = (x) => x;",
  "package.json": '{ "name": "mini", "private": true, "type": "module" }',
};

interface Breach {
  /** What the file does, for the test's name. */
  readonly what: string;
  readonly file: string;
  readonly source: string | readonly string[];
  /** [rule, imported module] for each violation the file must cause, and no other. */
  readonly reported: readonly (readonly [string, string])[];
}

const BREACHES: readonly Breach[] = [
  {
    what: "the agent imports the controller",
    file: "agent/actions/leak.ts",
    source: ['import { keys } from "../../controller/keys.js";', "export const leak = keys;"],
    reported: [["agent-not-to-controller", "controller/keys.ts"]],
  },
  {
    what: "the agent imports only a type of the controller",
    file: "agent/bundle/leak-type.ts",
    source: ['import type { Key } from "../../controller/keys.js";', "export type Leak = Key;"],
    reported: [["agent-not-to-controller", "controller/keys.ts"]],
  },
  {
    what: "the controller loads the agent with a dynamic import()",
    file: "controller/dispatch/leak-dynamic.ts",
    source: 'export const load = () => import("../../agent/redact/index.js");',
    reported: [["controller-not-to-agent", "agent/redact/index.ts"]],
  },
  {
    what: "the controller re-exports the agent",
    file: "controller/http/leak-reexport.ts",
    source: 'export { AgentError } from "../../agent/errors.js";',
    reported: [["controller-not-to-agent", "agent/errors.ts"]],
  },
  {
    what: "protocol/ imports the agent",
    file: "protocol/leak-agent.ts",
    source: ['import { AgentError } from "../agent/errors.js";', "export const leak = AgentError;"],
    reported: [["protocol-imports-only-itself", "agent/errors.ts"]],
  },
  {
    what: "protocol/ imports the controller",
    file: "protocol/leak-controller.ts",
    source: ['import { keys } from "../controller/keys.js";', "export const leak = keys;"],
    reported: [["protocol-imports-only-itself", "controller/keys.ts"]],
  },
  {
    what: "protocol/ imports common/",
    file: "protocol/leak-common.ts",
    source: ['import { isLoopback } from "../common/loopback.js";', "export const leak = isLoopback;"],
    reported: [["protocol-imports-only-itself", "common/loopback.ts"]],
  },
  {
    what: "protocol/ imports the cli",
    file: "protocol/leak-cli.ts",
    source: 'export const leak = () => import("../cli/main.js");',
    reported: [
      ["protocol-imports-only-itself", "cli/main.ts"],
      ["nothing-imports-cli", "cli/main.ts"],
    ],
  },
  {
    what: "common/ imports the agent",
    file: "common/leak-agent.ts",
    source: ['import { AgentError } from "../agent/errors.js";', "export const leak = AgentError;"],
    reported: [["common-imports-no-program", "agent/errors.ts"]],
  },
  {
    what: "common/ imports the controller",
    file: "common/leak-controller.ts",
    source: 'export const leak = () => import("../controller/keys.js");',
    reported: [["common-imports-no-program", "controller/keys.ts"]],
  },
  {
    what: "common/ imports the cli",
    file: "common/leak-cli.ts",
    source: ['import { run } from "../cli/main.js";', "export const leak = run;"],
    reported: [
      ["common-imports-no-program", "cli/main.ts"],
      ["nothing-imports-cli", "cli/main.ts"],
    ],
  },
  {
    what: "the masking engine imports an action",
    file: "agent/redact/leak-action.ts",
    source: ['import { env } from "../actions/env.js";', "export const leak = env;"],
    reported: [["redact-is-pure", "agent/actions/env.ts"]],
  },
  {
    what: "the masking engine imports a runtime adapter",
    file: "agent/redact/leak-runtime.ts",
    source: 'export const leak = () => import("../runtimes/node/wait.js");',
    reported: [["redact-is-pure", "agent/runtimes/node/wait.ts"]],
  },
  {
    what: "the masking engine imports common/",
    file: "agent/redact/leak-common.ts",
    source: ['import { isLoopback } from "../../common/loopback.js";', "export const leak = isLoopback;"],
    reported: [["redact-is-pure", "common/loopback.ts"]],
  },
  {
    what: "a proc reader imports an action",
    file: "agent/proc/leak-action.ts",
    source: ['import { env } from "../actions/env.js";', "export const leak = env;"],
    reported: [["proc-knows-no-requester", "agent/actions/env.ts"]],
  },
  {
    what: "a proc reader imports the request path",
    file: "agent/proc/leak-request-path.ts",
    source: [
      'import { app } from "../app.js";',
      'import { runAction } from "../run-action.js";',
      'import { verify } from "../verify.js";',
      "export const leak = [app, runAction, verify];",
    ],
    reported: [
      ["proc-knows-no-requester", "agent/app.ts"],
      ["proc-knows-no-requester", "agent/run-action.ts"],
      ["proc-knows-no-requester", "agent/verify.ts"],
    ],
  },
  {
    what: "a runtime adapter imports an action",
    file: "agent/runtimes/node/leak-action.ts",
    source: 'export const leak = () => import("../../actions/env.js");',
    reported: [["runtimes-know-no-requester", "agent/actions/env.ts"]],
  },
  {
    what: "a runtime adapter imports the request path",
    file: "agent/runtimes/node/leak-request-path.ts",
    source: [
      'import type { app } from "../../app.js";',
      'import { runAction } from "../../run-action.js";',
      'import { verify } from "../../verify.js";',
      "export const leak: [typeof app, unknown, unknown] = [[], runAction, verify];",
    ],
    reported: [
      ["runtimes-know-no-requester", "agent/app.ts"],
      ["runtimes-know-no-requester", "agent/run-action.ts"],
      ["runtimes-know-no-requester", "agent/verify.ts"],
    ],
  },
  {
    what: "the agent imports the cli",
    file: "agent/leak-cli.ts",
    source: ['import { run } from "../cli/main.js";', "export const leak = run;"],
    reported: [["nothing-imports-cli", "cli/main.ts"]],
  },
  {
    what: "the controller imports a test helper",
    file: "controller/leak-test.ts",
    source: ['import { stack } from "../test/helpers/stack.js";', "export const leak = stack;"],
    reported: [["product-imports-no-tests", "test/helpers/stack.ts"]],
  },
  {
    what: "the cli imports a bench",
    file: "cli/leak-bench.ts",
    source: 'export const leak = () => import("../bench/lib.js");',
    reported: [["product-imports-no-tests", "bench/lib.ts"]],
  },
  {
    what: "the agent imports a file that is not there",
    file: "agent/leak-unresolved.ts",
    source: ['import { gone } from "./gone.js";', "export const leak = gone;"],
    reported: [["imports-resolve", "./gone.js"]],
  },
];

interface Check {
  readonly status: number | null;
  readonly output: string;
  /** `rule from → to`, one per reported violation. */
  readonly violations: string[];
  readonly dependencies: number;
}

/** Runs package.json's lint:deps command (its own depcruise, no shell) with the repository's rules in `dir`. */
function lintDeps(dir: string): Check {
  const [command, ...args] = String(PACKAGE.scripts["lint:deps"]).split(/\s+/);
  expect(command).toBe("depcruise");
  copyFileSync(join(ROOT, ".dependency-cruiser.mjs"), join(dir, ".dependency-cruiser.mjs"));
  const run = spawnSync(process.execPath, [DEPCRUISE, ...args], { cwd: dir, encoding: "utf8" });
  const output = `${run.stdout}${run.stderr}`;
  const violations = [...output.matchAll(/^\s*error (\S+): (\S+) → (\S+)$/gm)].map(
    ([, rule, from, to]) => `${rule} ${from} → ${to}`,
  );
  const counted = /(\d+) dependencies cruised/.exec(output);
  return { status: run.status, output, violations, dependencies: Number(counted?.[1] ?? Number.NaN) };
}

function writeTree(dir: string, tree: Tree): void {
  for (const [file, source] of Object.entries(tree)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), `${[source].flat().join("\n")}\n`);
  }
}

/** The imports the product files of `tree` hold (each names its module once). */
function productImports(tree: Tree): number {
  return Object.entries(tree)
    .filter(([file]) => /^(agent|controller|cli|protocol|common)\/.*\.ts$/.test(file))
    .reduce(
      (n, [, source]) =>
        n +
        [
          ...[source]
            .flat()
            .join("\n")
            .matchAll(/(?:from |import\()"[^"]+"/g),
        ].length,
      0,
    );
}

let base: string;
let clean: Check;
let broken: Check;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "keyhole-depcruise-"));
  const cleanDir = join(base, "agent", "controller", "clean");
  const brokenDir = join(base, "agent", "controller", "broken");
  writeTree(cleanDir, CLEAN);
  writeTree(brokenDir, { ...CLEAN, ...Object.fromEntries(BREACHES.map((b) => [b.file, b.source])) });
  clean = lintDeps(cleanDir);
  broken = lintDeps(brokenDir);
}, 60_000);

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("npm run lint's dependency rules", () => {
  it("lint runs lint:deps over the product folders", () => {
    expect(PACKAGE.scripts.lint).toContain("npm run lint:deps");
    for (const folder of ["agent", "controller", "cli", "protocol", "common"]) {
      expect(PACKAGE.scripts["lint:deps"].split(/\s+/)).toContain(folder);
    }
  });

  it("pass a tree that keeps them, having followed every import in it", () => {
    expect(clean.violations, clean.output).toEqual([]);
    expect(clean.status, clean.output).toBe(0);
    expect(clean.dependencies, clean.output).toBe(productImports(CLEAN));
  });

  it("fail a tree that breaks them, reporting each breach and nothing else", () => {
    expect(broken.status, broken.output).not.toBe(0);
    const expected = BREACHES.flatMap((b) => b.reported.map(([rule, to]) => `${rule} ${b.file} → ${to}`));
    expect([...broken.violations].sort()).toEqual([...expected].sort());
  });

  it.each(BREACHES)("report $what", (breach) => {
    const fromFile = broken.violations.filter((v) => v.split(" ")[1] === breach.file);
    expect(fromFile.sort(), broken.output).toEqual(
      breach.reported.map(([rule, to]) => `${rule} ${breach.file} → ${to}`).sort(),
    );
  });
});
