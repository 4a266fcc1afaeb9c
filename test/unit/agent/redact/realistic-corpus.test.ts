/**
 * The realistic corpus's own properties (size, formats, clean share, labels, determinism, a
 * held-out slice with formats of its own), and the engine's current figures on both slices,
 * printed only: no score threshold is asserted here yet. Holdout figures are aggregate only.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_SEED, generateRealisticCorpus } from "../../../fixtures/redaction/realistic/index.js";
import { formatFigures, formatTable, scoreSlice } from "../../../fixtures/redaction/realistic/score.js";

const corpus = generateRealisticCorpus();
const slices = ["tune", "holdout"] as const;
const formatsOf = (slice: string) => new Set(corpus.filter((c) => c.slice === slice).map((c) => c.format));

describe("realistic redaction corpus", () => {
  it("has at least 1,500 cases in at least 30 formats", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(1500);
    expect(new Set(corpus.map((c) => c.format)).size).toBeGreaterThanOrEqual(30);
  });

  it("is at least 35% clean overall and in each slice", () => {
    const share = (cases: typeof corpus) => cases.filter((c) => c.secrets.length === 0).length / cases.length;
    expect(share(corpus)).toBeGreaterThanOrEqual(0.35);
    for (const slice of slices)
      expect(share(corpus.filter((c) => c.slice === slice))).toBeGreaterThanOrEqual(0.35);
  });

  it("holds each secret verbatim in its case's text, and argv cases' text is their args", () => {
    for (const c of corpus) {
      for (const s of c.secrets) expect(c.text.includes(s), c.id).toBe(true);
      if (c.input === "argv") expect(c.argv?.join(" "), c.id).toBe(c.text);
      if (c.input === "env") expect(c.text.indexOf("="), c.id).toBeGreaterThan(0);
    }
  });

  it("has unique ids, and a holdout of about a third with 8+ formats absent from tune", () => {
    expect(new Set(corpus.map((c) => c.id)).size).toBe(corpus.length);
    const holdout = corpus.filter((c) => c.slice === "holdout").length;
    expect(holdout / corpus.length).toBeGreaterThan(0.28);
    expect(holdout / corpus.length).toBeLessThan(0.4);
    const tune = formatsOf("tune");
    const only = [...formatsOf("holdout")].filter((f) => !tune.has(f));
    expect(only.length).toBeGreaterThanOrEqual(8);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    expect(generateRealisticCorpus(DEFAULT_SEED)).toEqual(corpus);
    const other = generateRealisticCorpus(7);
    expect(other.length).toBe(corpus.length);
    expect(other.map((c) => c.text)).not.toEqual(corpus.map((c) => c.text));
  });

  it("holds the engine to its tuning slice and prints the held-out figures", () => {
    const tune = scoreSlice(corpus, "tune");
    const holdout = scoreSlice(corpus, "holdout");
    // The slice the engine was tuned on guards against regressions. The held-out slice measures how
    // the engine generalises; it is printed, not asserted: asserting it would make the suite a
    // tuning loop on it (issue 17 reports it; its goal, recall 98% and false positives 2%, is not
    // met yet).
    expect(tune.recall).toBeGreaterThanOrEqual(0.99);
    expect(tune.falsePositiveRate).toBeLessThanOrEqual(0.02);
    expect(tune.contextKept).toBeGreaterThanOrEqual(0.97);
    console.log(
      [
        formatFigures("tune", tune),
        formatTable(tune.byFormat),
        formatFigures("holdout", holdout),
        ...(process.env.KEYHOLE_HOLDOUT_DETAIL === "1" ? [formatTable(holdout.byFormat)] : []),
      ].join("\n"),
    );
    expect(tune.cases + holdout.cases).toBe(corpus.length);
  }, 120_000);
});
