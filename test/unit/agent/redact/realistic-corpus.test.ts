/**
 * The realistic corpus's own properties (size, formats, clean share, labels, determinism, a
 * held-out slice with formats of its own), and the engine's current figures on both slices,
 * printed only: no score threshold is asserted here yet. Holdout figures are aggregate only.
 *
 * The second corpus (tune-b, holdout-b) is checked for its own properties only: no figure of the
 * engine on it is asserted (the bench prints them).
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SEED,
  generateRealisticCorpus,
  generateRealisticCorpusB,
  type RealisticCase,
} from "../../../fixtures/redaction/realistic/index.js";
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

describe("realistic redaction corpus B (tune-b, holdout-b)", () => {
  const corpusB = generateRealisticCorpusB();
  const of = (slice: string) => corpusB.filter((c) => c.slice === slice);
  const formats = (cases: readonly RealisticCase[]) => new Set(cases.map((c) => c.format));
  const cleanShare = (cases: readonly RealisticCase[]) =>
    cases.filter((c) => c.secrets.length === 0).length / cases.length;

  it("has tune-b of 700+ cases in 25+ formats and holdout-b of 500+ cases in 20+ formats", () => {
    expect(corpusB.length).toBe(of("tune-b").length + of("holdout-b").length);
    expect(of("tune-b").length).toBeGreaterThanOrEqual(700);
    expect(formats(of("tune-b")).size).toBeGreaterThanOrEqual(25);
    expect(of("holdout-b").length).toBeGreaterThanOrEqual(500);
    expect(formats(of("holdout-b")).size).toBeGreaterThanOrEqual(20);
  });

  it("is at least 35% clean in each slice, and every format has both kinds", () => {
    for (const slice of ["tune-b", "holdout-b"]) {
      expect(cleanShare(of(slice)), slice).toBeGreaterThanOrEqual(0.35);
      for (const f of formats(of(slice))) {
        const cases = of(slice).filter((c) => c.format === f);
        const share = cleanShare(cases);
        expect(share, `${slice} ${f}`).toBeGreaterThan(0);
        expect(share, `${slice} ${f}`).toBeLessThan(1);
      }
    }
  });

  it("has tune-b formats absent from tune, and 10+ holdout-b formats absent from both tune files", () => {
    const tune = formatsOf("tune");
    const tuneB = formats(of("tune-b"));
    for (const f of tuneB) expect(tune.has(f), f).toBe(false);
    const holdoutOnly = [...formats(of("holdout-b"))].filter((f) => !tune.has(f) && !tuneB.has(f));
    expect(holdoutOnly.length).toBeGreaterThanOrEqual(10);
  });

  it("labels secret spans that lie inside the text, non-empty and not inside one another", () => {
    for (const c of corpusB) {
      for (const s of c.secrets) {
        expect(s.length, c.id).toBeGreaterThanOrEqual(6);
        const at = c.text.indexOf(s);
        expect(at, c.id).toBeGreaterThanOrEqual(0);
        expect(at + s.length, c.id).toBeLessThanOrEqual(c.text.length);
      }
      expect(new Set(c.secrets).size, c.id).toBe(c.secrets.length);
      if (c.input === "argv") expect(c.argv?.join(" "), c.id).toBe(c.text);
    }
  });

  it("has unique ids, and holdout-b ids name no format", () => {
    expect(new Set(corpusB.map((c) => c.id)).size).toBe(corpusB.length);
    for (const c of of("holdout-b")) expect(c.id, c.id).toMatch(/^holdout-b\/\d+$/);
    for (const c of of("tune-b")) expect(c.id.startsWith(`tune-b/${c.format}/`), c.id).toBe(true);
  });

  it("is deterministic for a seed, differs across seeds, and leaves the first corpus unchanged", () => {
    expect(generateRealisticCorpusB(DEFAULT_SEED)).toEqual(corpusB);
    const other = generateRealisticCorpusB(7);
    expect(other.map((c) => c.id)).toEqual(corpusB.map((c) => c.id));
    expect(other.map((c) => c.text)).not.toEqual(corpusB.map((c) => c.text));
    expect(corpus.some((c) => c.slice === "tune-b" || c.slice === "holdout-b")).toBe(false);
  });
});
