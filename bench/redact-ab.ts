/**
 * Two builds of the masking engine compared in one process: both are loaded side by side and mask
 * the same text in alternating rounds, and their CPU time is compared. On a shared machine this is
 * the comparison that holds (a burst of load hits both), where two separate runs of `bench redact`
 * differ by more than most changes do.
 *
 * `npm run build`, build the other revision into its own folder (e.g. a `git worktree` at the
 * reference commit, `npx tsc -p tsconfig.build.json` there), then
 * `node dist/bench/redact-ab.js /path/to/reference/dist /path/to/this/dist [rounds]`.
 * Text: the first 40 chunks (2.6 MB) of bench/redact.ts's generated logs; the outputs must be
 * identical, or the engines differ in what they mask and the timing compares different work.
 */
import { pathToFileURL } from "node:url";
import { expand } from "../test/unit/agent/redact/samples.js";
import { generateLogs } from "./redact.js";

interface Engine {
  readonly dist: string;
  readonly maskText: (text: string) => string;
}

async function load(dist: string): Promise<Engine> {
  const { createRedactor } = (await import(pathToFileURL(`${dist}/agent/redact/index.js`).href)) as {
    createRedactor: (options: { fingerprintKey: Uint8Array }) => {
      maskText(t: string): string;
      remember(v: string): void;
    };
  };
  const redactor = createRedactor({ fingerprintKey: new Uint8Array(32).fill(3) });
  // The same 20 known values as bench/redact.ts, so that the two benches time the same work.
  for (let i = 0; i < 20; i++) redactor.remember(expand(`env-secret-{alnum:16}-${i}`, 1000 + i));
  return { dist, maskText: (text) => redactor.maskText(text) };
}

export async function benchRedactAb(argv: readonly string[]): Promise<void> {
  const [a, b, roundsArg] = argv;
  if (!a || !b) throw new Error("usage: node dist/bench/redact-ab.js REFERENCE_DIST CANDIDATE_DIST [ROUNDS]");
  const rounds = Number(roundsArg ?? 12);
  const chunks = generateLogs().chunks.slice(0, 40);
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const engines = [await load(a), await load(b)];
  const cpu: number[][] = [[], []];
  const last: string[][] = [[], []];
  for (let round = 0; round < rounds; round++) {
    engines.forEach((engine, k) => {
      const start = process.cpuUsage();
      last[k] = chunks.map((chunk) => engine.maskText(chunk));
      const used = process.cpuUsage(start);
      cpu[k]!.push((used.user + used.system) / 1000);
    });
  }
  // The first two rounds warm the compilers up.
  const median = (ms: number[]) => [...ms.slice(2)].sort((x, y) => x - y)[Math.floor((ms.length - 2) / 2)]!;
  const rate = (ms: number) => bytes / 1024 / 1024 / (ms / 1000);
  const [ref, cand] = [median(cpu[0]!), median(cpu[1]!)];
  const same = last[0]!.every((out, i) => out === last[1]![i]);
  process.stdout.write(
    `reference ${rate(ref).toFixed(1)} MB/s CPU (${a})\ncandidate ${rate(cand).toFixed(1)} MB/s CPU (${b})\nratio ${(ref / cand).toFixed(2)}× (candidate vs reference, median of ${rounds - 2} rounds); outputs ${same ? "identical" : "DIFFER"}\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRedactAb(process.argv.slice(2));
}
