/**
 * Which rules can match a text, found in one pass: every detector's keywords and the words of the
 * name rule are compiled into one keyword automaton (keyword-automaton.ts). Only the detectors
 * whose keywords occur run their own patterns, and a line holding no keyword, no candidate of a
 * keyword-less detector and no known value is never looked at again: that is most log lines.
 */
import type { Detector } from "./detector.js";
import { NAME_WORD_LIST } from "./key-values.js";
import { type Keyword, KeywordAutomaton } from "./keyword-automaton.js";

/** The owner id of the name rule's words (detectors are numbered from 0). */
const NAME_RULE = -1;

/** The compiled keyword index of one detector table. */
export class DetectorTriggers {
  private readonly always: boolean[];
  private readonly automaton: KeywordAutomaton;
  /** Keyword-less detectors that cannot tell where they might match: every line is a candidate. */
  readonly scansEverything: boolean;
  /** Keyword-less detectors that find their own candidates (the entropy rule). */
  readonly candidateFinders: readonly NonNullable<Detector["findCandidate"]>[];
  /** Detectors whose matches may span lines (PEM blocks), with a test of their keywords. */
  readonly multiline: readonly {
    readonly owner: number;
    readonly always: boolean;
    readonly pattern: RegExp;
    /** The detector's cheap test of a whole text: false means no match anywhere in it. */
    readonly quick: ((text: string) => boolean) | undefined;
    /** What a match holds on the line it starts on (`Detector.firstLine`). */
    readonly firstLine: RegExp | undefined;
  }[];

  constructor(private readonly detectors: readonly Detector[]) {
    this.always = detectors.map((d) => !d.keywords || d.keywords.length === 0);
    const keywords: Keyword[] = NAME_WORD_LIST.map((text) => ({ text, ignoreCase: true, owner: NAME_RULE }));
    detectors.forEach((d, owner) => {
      for (const text of d.keywords ?? [])
        keywords.push({ text, ignoreCase: d.keywordsIgnoreCase === true, owner });
    });
    this.automaton = new KeywordAutomaton(keywords);
    const keywordLess = detectors.filter((_, i) => this.always[i]);
    this.scansEverything = keywordLess.some((d) => !d.findCandidate);
    this.candidateFinders = keywordLess.flatMap((d) => (d.findCandidate ? [d.findCandidate] : []));
    this.multiline = detectors.flatMap((d, owner) => {
      if (!d.multiline) return [];
      return [
        {
          owner,
          always: this.always[owner] === true,
          pattern: new RegExp(d.pattern.source, d.pattern.flags),
          quick: d.quickCheck,
          firstLine: d.firstLine,
        },
      ];
    });
  }

  /**
   * Which multiline detectors `line` wakes (their keywords occur in it), by their index in
   * `multiline`: one pass of the automaton for all of them. (Testing each detector's keywords
   * with `includes` cost ~150 searches a line for the name rule's structures: the attacker's pass
   * on issue 17 measured masking 10,000 log lines going quadratic-looking at 9 s.)
   */
  wakes(line: string): boolean[] {
    const found = new Uint8Array(this.detectors.length + 1);
    this.automaton.owners(line, found);
    return this.multiline.map((m) => m.always || found[m.owner + 1] === 1);
  }

  /** The detectors worth running on `text`, in table order. */
  select(text: string): Detector[] {
    const found = new Uint8Array(this.detectors.length + 1);
    this.automaton.owners(text, found);
    const selected: Detector[] = [];
    for (let i = 0; i < this.detectors.length; i++) {
      if (this.always[i] || found[i + 1] === 1) selected.push(this.detectors[i]!);
    }
    return selected;
  }

  /** The index just past the first keyword of each line of `text` that holds one, in order. */
  keywordLineEnds(text: string): number[] {
    return this.automaton.lineEnds(text);
  }

  /** The index just past the first keyword (of a detector or of the name rule) in text[from, to), or -1. */
  firstKeywordEnd(text: string, from: number, to: number): number {
    return this.automaton.firstEnd(text, from, to);
  }
}
