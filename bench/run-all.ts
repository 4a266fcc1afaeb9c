/**
 * `npm run bench`: every benchmark, each printing its ratio against a reference measured in the
 * same run. `npm run bench -- verify` runs only the named ones. Each bench runs in a process of its
 * own (this file with `--child NAME`), so one bench's heap, timers or a library's deferred work
 * (secretlint keeps a core busy for minutes after its last call) never weighs on the next.
 * Arguments starting with `--` are not bench names: they are passed on to each child, e.g.
 * `npm run bench -- redact-corpus --show-failures 30`.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchAgentHttp } from "./agent-http.js";
import { benchArtifacts } from "./artifacts.js";
import { benchAudit } from "./audit.js";
import { benchFleet } from "./fleet.js";
import { benchFleetTransports } from "./fleet-transports.js";
import { benchFuzz } from "./fuzz.js";
import { benchHeapMasking } from "./heap-masking.js";
import { benchHeapSnapshot } from "./heap-snapshot.js";
import { benchJvm } from "./jvm.js";
import { type BenchResult, formatResult } from "./lib.js";
import { benchLoad } from "./load.js";
import { benchLogTail } from "./log-tail.js";
import { benchOidc } from "./oidc.js";
import { benchPolicyReload } from "./policy-reload.js";
import { benchRedact } from "./redact.js";
import { benchRedactCorpus } from "./redact-corpus.js";
import { benchRedactWindows } from "./redact-windows.js";
import { benchStore } from "./store.js";
import { benchAnswerSigning, benchVerify } from "./verify.js";

const BENCHES: Record<string, () => Promise<BenchResult | BenchResult[]>> = {
  verify: async () => [await benchVerify(), await benchAnswerSigning()],
  "agent-http": () => benchAgentHttp(),
  audit: () => benchAudit(),
  "log-tail": () => benchLogTail(),
  redact: () => benchRedact(),
  "redact-corpus": () => benchRedactCorpus(),
  "redact-windows": () => benchRedactWindows(),
  "heap-snapshot": () => benchHeapSnapshot(),
  "heap-masking": () => benchHeapMasking(),
  jvm: () => benchJvm(),
  artifacts: () => benchArtifacts(),
  fleet: () => benchFleet(),
  "fleet-transports": () => benchFleetTransports(),
  oidc: () => benchOidc(),
  "policy-reload": () => benchPolicyReload(),
  store: () => benchStore(),
  fuzz: () => benchFuzz(),
  load: () => benchLoad(),
};

const RESULTS_FILE_ENV = "KEYHOLE_BENCH_RESULTS_FILE";

/** In the child: run one bench, write its results as JSON, and exit at once. */
async function runChild(name: string): Promise<never> {
  const results = [await BENCHES[name]!()].flat();
  const { writeFile } = await import("node:fs/promises");
  await writeFile(process.env[RESULTS_FILE_ENV]!, JSON.stringify(results));
  process.exit(0);
}

/** In the parent: one child per bench, its output passed through, its results read back. */
async function runInChild(name: string, dir: string): Promise<BenchResult[]> {
  const file = join(dir, `${name}.json`);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", name, ...flags], {
    stdio: "inherit",
    env: { ...process.env, [RESULTS_FILE_ENV]: file },
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`bench ${name} exited ${code}`);
  return JSON.parse(await readFile(file, "utf8")) as BenchResult[];
}

if (process.argv[2] === "--child") await runChild(process.argv[3]!);

/** Everything after the first `--…` argument is passed on to the children (flags and their values). */
const firstFlag = process.argv.findIndex((a, i) => i >= 2 && a.startsWith("--"));
const wanted = process.argv.slice(2, firstFlag < 0 ? undefined : firstFlag);
const flags = firstFlag < 0 ? [] : process.argv.slice(firstFlag);
const unknown = wanted.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench: ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}\n`);
  process.exit(2);
}
const dir = await mkdtemp(join(tmpdir(), "keyhole-bench-results-"));
let missed = 0;
let failed = 0;
try {
  for (const name of Object.keys(BENCHES)) {
    if (wanted.length > 0 && !wanted.includes(name)) continue;
    process.stdout.write(`\n[${name}] running…\n`);
    let results: BenchResult[];
    try {
      results = await runInChild(name, dir);
    } catch (err) {
      process.stdout.write(`✗ ${name}: ${(err as Error).message}\n`);
      failed++;
      continue;
    }
    for (const result of results) {
      process.stdout.write(`${formatResult(result)}\n`);
      if (!result.met) missed++;
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
const summary = [
  missed === 0 ? "every goal met" : `${missed} goal(s) missed`,
  ...(failed > 0 ? [`${failed} bench(es) failed to run`] : []),
];
process.stdout.write(`\n${summary.join("; ")}\n`);
process.exitCode = failed > 0 ? 1 : 0;
