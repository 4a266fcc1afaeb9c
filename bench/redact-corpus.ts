/**
 * The masking engine on the realistic corpus (test/fixtures/redaction/realistic): recall, false
 * positives and context kept on each slice, each case through a fresh redactor.
 *
 * `npm run bench -- redact-corpus [--show-failures [N]]`, or after a build
 * `node dist/bench/redact-corpus.js [--show-failures [N]]`:
 * - tune slice: aggregate figures, the per-format table, and with `--show-failures` up to N
 *   (default 20) failing cases with their id, input and output;
 * - holdout slice: aggregate figures only, never a case, a format's details or a failure; its
 *   per-format recall/FP table only with `KEYHOLE_HOLDOUT_DETAIL=1` (the engine's author does not
 *   set it: the holdout must stay unseen to measure how the engine generalises).
 *
 * No goal is judged yet: the result is reported as met, its ratio being the tune recall.
 */
import { pathToFileURL } from "node:url";
import { DEFAULT_SEED, generateRealisticCorpus } from "../test/fixtures/redaction/realistic/index.js";
import {
  formatFailure,
  formatFigures,
  formatTable,
  isFailure,
  scoreSlice,
} from "../test/fixtures/redaction/realistic/score.js";
import type { BenchResult } from "./lib.js";

function showFailuresArg(argv: readonly string[]): number {
  const at = argv.indexOf("--show-failures");
  if (at < 0) return 0;
  const n = Number(argv[at + 1]);
  return Number.isInteger(n) && n > 0 ? n : 20;
}

export async function benchRedactCorpus(
  argv: readonly string[] = process.argv.slice(2),
): Promise<BenchResult> {
  const show = showFailuresArg(argv);
  const corpus = generateRealisticCorpus(DEFAULT_SEED);
  const tune = scoreSlice(corpus, "tune");
  const holdout = scoreSlice(corpus, "holdout");
  const out: string[] = [formatFigures("tune", tune), formatTable(tune.byFormat)];
  if (show > 0) {
    const failures = tune.results.filter(isFailure);
    out.push(`\ntune failures: ${failures.length} (showing ${Math.min(show, failures.length)})`);
    for (const r of failures.slice(0, show)) out.push(formatFailure(r));
  }
  out.push(`\n${formatFigures("holdout", holdout)}`);
  if (process.env.KEYHOLE_HOLDOUT_DETAIL === "1") out.push(formatTable(holdout.byFormat));
  process.stdout.write(`${out.join("\n")}\n`);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return {
    name: "redact-corpus: realistic corpus, fresh redactor per case",
    value: `tune: recall ${pct(tune.recall)}, false positives ${pct(tune.falsePositiveRate)}, context kept ${pct(tune.contextKept)} (${tune.cases} cases)`,
    reference: `holdout: recall ${pct(holdout.recall)}, false positives ${pct(holdout.falsePositiveRate)}, context kept ${pct(holdout.contextKept)} (${holdout.cases} cases)`,
    ratio: tune.recall,
    goal: "none yet: report only (ratio = tune recall)",
    met: true,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchRedactCorpus();
}
