/**
 * `npm run bench -- redact-windows`: the windows property of `test/unit/agent/redact/windows.test.ts`
 * (masking by the prefilter's windows equals masking the whole text at once, so the windows can
 * never mask less) with a large budget of random seeds, where `npm test` runs it with one fixed
 * seed. The texts (test/helpers/window-texts.ts) hold what the rules may span: XML values and
 * elements split across lines, YAML `- name:`/`value:` pairs, JSON objects over several lines, PEM
 * blocks, escaped known values and a known value holding a line break.
 *
 * KEYHOLE_FUZZ_RUNS (default 200,000) runs in batches of 1,000, each from a fresh random seed,
 * stopping early after KEYHOLE_FUZZ_SECONDS (default 900). A failure prints its seed and path;
 * `KEYHOLE_FUZZ_SEED=<seed> KEYHOLE_FUZZ_PATH=<path> npm run bench -- redact-windows` replays it.
 */
import fc from "fast-check";
import { maskTextWhole, maskTextWith } from "../agent/redact/mask-text.js";
import { known, mask, rules, textArb } from "../test/helpers/window-texts.js";
import type { BenchResult } from "./lib.js";

const BATCH = 1_000;

interface Failure {
  readonly seed: number;
  readonly path: string;
  readonly text: string;
  readonly windowed: string;
  readonly whole: string;
}

const property = fc.property(
  textArb,
  (text) => maskTextWith(text, rules, known, mask) === maskTextWhole(text, rules, known, mask),
);

function failureOf(details: fc.RunDetails<[string]>): Failure | undefined {
  if (!details.failed || !details.counterexample) return undefined;
  const [text] = details.counterexample;
  return {
    seed: details.seed,
    path: details.counterexamplePath ?? "",
    text,
    windowed: maskTextWith(text, rules, known, mask),
    whole: maskTextWhole(text, rules, known, mask),
  };
}

export async function benchRedactWindows(): Promise<BenchResult> {
  const budget = Number(process.env.KEYHOLE_FUZZ_RUNS ?? 200_000);
  const seconds = Number(process.env.KEYHOLE_FUZZ_SECONDS ?? 900);
  const replaySeed = process.env.KEYHOLE_FUZZ_SEED;
  const failures: Failure[] = [];
  let runs = 0;
  const started = performance.now();
  if (replaySeed !== undefined) {
    const details = fc.check(property, {
      seed: Number(replaySeed),
      path: process.env.KEYHOLE_FUZZ_PATH,
      numRuns: BATCH,
    });
    runs = details.numRuns;
    const failure = failureOf(details);
    if (failure) failures.push(failure);
  } else {
    while (runs < budget && performance.now() - started < seconds * 1000) {
      const seed = (Math.random() * 2 ** 31) | 0;
      const details = fc.check(property, { seed, numRuns: Math.min(BATCH, budget - runs) });
      runs += details.numRuns;
      const failure = failureOf(details);
      if (failure) failures.push(failure);
    }
  }
  const ms = performance.now() - started;
  process.stdout.write(
    `windows vs whole text: ${runs.toLocaleString("en-US")} runs, ${failures.length} failure(s), ` +
      `${(ms / 1000).toFixed(1)} s (${Math.round((runs / ms) * 1000)} runs/s)\n`,
  );
  for (const f of failures.slice(0, 10)) {
    process.stdout.write(
      `  ✗ seed ${f.seed} path ${f.path}\n` +
        `    text     ${JSON.stringify(f.text)}\n    windowed ${JSON.stringify(f.windowed)}\n` +
        `    whole    ${JSON.stringify(f.whole)}\n` +
        `    replay   KEYHOLE_FUZZ_SEED=${f.seed} KEYHOLE_FUZZ_PATH=${f.path} npm run bench -- redact-windows\n`,
    );
  }
  return {
    name: "redact-windows: masking by windows equals masking the whole text",
    value: `${failures.length} failure(s) in ${runs.toLocaleString("en-US")} runs`,
    reference: `${(ms / 1000).toFixed(1)} s, budget ${budget.toLocaleString("en-US")} runs`,
    ratio: failures.length,
    goal: "0 failures",
    met: failures.length === 0 && (replaySeed !== undefined || runs >= budget),
  };
}
