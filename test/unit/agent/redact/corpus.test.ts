import { describe, expect, it } from "vitest";
import { loadCorpus, scoreCorpus } from "../../../fixtures/redaction/corpus.js";
import { redactor } from "./samples.js";

describe("the labelled redaction corpus", () => {
  it("holds at least 300 cases, about half with secrets", () => {
    const { secret, plain } = loadCorpus();
    expect(secret.length + plain.length).toBeGreaterThanOrEqual(300);
    expect(Math.min(secret.length, plain.length)).toBeGreaterThanOrEqual(140);
  });

  it("scores recall ≥ 99%, false positives ≤ 2%, context kept ≥ 95%", () => {
    const score = scoreCorpus(redactor);
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    process.stdout.write(
      `corpus: ${score.cases} cases, ${score.secrets} secrets; recall ${pct(score.recall)}, false positives ${pct(score.falsePositiveRate)}, context kept ${pct(score.contextKept)}\n`,
    );
    for (const m of score.missed) process.stdout.write(`  missed ${m.id}: ${m.out}\n`);
    for (const m of score.changed) process.stdout.write(`  changed ${m.id}: ${m.out}\n`);
    for (const m of score.lostContext) process.stdout.write(`  lost "${m.word}" in ${m.id}: ${m.out}\n`);
    expect(score.recall).toBeGreaterThanOrEqual(0.99);
    expect(score.falsePositiveRate).toBeLessThanOrEqual(0.02);
    expect(score.contextKept).toBeGreaterThanOrEqual(0.95);
  });
});
