/**
 * Finding every trigger keyword of every rule in one pass over the text: an Aho–Corasick
 * automaton over case-folded characters, so the cost per character is two table reads whatever
 * the number of keywords. A regex alternation of the same keywords runs at 75–170 MB/s in V8
 * (it tries the alternatives at every position once there are more than a handful); this loop
 * runs at about 400 MB/s, and most log lines reach no output state at all.
 *
 * Case-sensitive keywords are folded like the others and checked exactly when an output state is
 * reached, so the automaton stays small and an ordinary word (`task`) costs one comparison.
 */

/** One keyword and who it wakes. */
export interface Keyword {
  readonly text: string;
  readonly ignoreCase: boolean;
  /** Who the keyword wakes: a detector's index, or -1 for another rule. */
  readonly owner: number;
}

/** A keyword as the automaton stores it at its output states. */
interface Output {
  readonly length: number;
  /** The exact text, for case-sensitive keywords; undefined when any case matches. */
  readonly exact: string | undefined;
  readonly owner: number;
}

const fold = (c: number): number => (c >= 65 && c <= 90 ? c | 0x20 : c);

/**
 * The compiled automaton of a set of keywords. Its fields are `declare`d and set once in the
 * constructor: as initialised class fields (undefined first) they make the hot loop a third slower.
 */
export class KeywordAutomaton {
  /** Code unit → symbol (0: a character no keyword holds). */
  declare private readonly symbols: Uint8Array;
  /** The same for code units below 256: a table that stays in the fastest cache. */
  declare private readonly latin1: Uint8Array;
  declare private readonly width: number;
  /** log2(width). */
  declare private readonly shift: number;
  /**
   * A state is the offset of its row (state number × width); row + symbol → the next state's row.
   * States that have outputs are numbered last.
   */
  declare private readonly delta: Int32Array;
  /** The row of the first state with an output: `row >= firstOutput` is the whole hit test of the hot loop. */
  declare private readonly firstOutput: number;
  /**
   * By output state as `outputs`: the longest of its keywords when all of them match in any case
   * (then the longest is found without reading the text again), else 0.
   */
  declare private readonly anyCaseLongest: Int32Array;
  /** Outputs of each output state (its own keyword and every keyword ending in it), by (row - firstOutput) >> shift. */
  declare private readonly outputs: Output[][];

  constructor(keywords: readonly Keyword[]) {
    this.symbols = new Uint8Array(65536);
    const alphabet = new Map<number, number>();
    for (const k of keywords) {
      if (k.text.includes("\n")) throw new Error(`a keyword holds a line break: ${JSON.stringify(k.text)}`);
      for (let i = 0; i < k.text.length; i++) {
        const c = fold(k.text.charCodeAt(i));
        if (!alphabet.has(c)) alphabet.set(c, alphabet.size + 1);
      }
    }
    // symbols[c] = alphabet.get(fold(c)) ?? 0 for every code unit, set from the alphabet's side: the
    // alphabet holds folded characters only, and fold maps just A–Z onto a–z. (A loop over all 65,536
    // code units got itself compiled by the optimizing tiers at every start: ~10 ms of CPU and several
    // MB of compiler memory that the process kept.)
    for (const [c, symbol] of alphabet) {
      this.symbols[c] = symbol;
      if (c >= 97 && c <= 122) this.symbols[c - 32] = symbol;
    }
    this.latin1 = this.symbols.slice(0, 256);
    if (alphabet.size > 254) throw new Error("too many distinct keyword characters");
    let width = 1;
    while (width < alphabet.size + 1) width *= 2;
    this.width = width;
    this.shift = Math.log2(width);

    // The trie.
    const next: Map<number, number>[] = [new Map()];
    const own: Output[][] = [[]];
    for (const k of keywords) {
      if (k.text.length === 0) continue;
      let state = 0;
      for (let i = 0; i < k.text.length; i++) {
        const symbol = this.symbols[k.text.charCodeAt(i)]!;
        let to = next[state]!.get(symbol);
        if (to === undefined) {
          to = next.length;
          next.push(new Map());
          own.push([]);
          next[state]!.set(symbol, to);
        }
        state = to;
      }
      own[state]!.push({ length: k.text.length, exact: k.ignoreCase ? undefined : k.text, owner: k.owner });
    }
    // Failure links, breadth first; each state inherits the outputs of its failure state.
    const count = next.length;
    const full = new Int32Array(count * width);
    const failure = new Int32Array(count);
    const queue: number[] = [];
    for (let symbol = 0; symbol < width; symbol++) {
      const to = next[0]!.get(symbol);
      full[symbol] = to ?? 0;
      if (to !== undefined) queue.push(to);
    }
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      own[state] = [...own[state]!, ...own[failure[state]!]!];
      for (let symbol = 0; symbol < width; symbol++) {
        const to = next[state]!.get(symbol);
        if (to === undefined) {
          full[state * width + symbol] = full[failure[state]! * width + symbol]!;
        } else {
          failure[to] = full[failure[state]! * width + symbol]!;
          full[state * width + symbol] = to;
          queue.push(to);
        }
      }
    }
    // Renumber so that output states come last.
    const order = [...Array(count).keys()].sort(
      (a, b) => Number(own[a]!.length > 0) - Number(own[b]!.length > 0) || a - b,
    );
    const rank = new Int32Array(count);
    order.forEach((state, i) => {
      rank[state] = i;
    });
    const firstOutput = order.findIndex((state) => own[state]!.length > 0);
    const first = firstOutput < 0 ? count : firstOutput;
    this.firstOutput = first * width;
    this.delta = new Int32Array(count * width);
    for (let state = 0; state < count; state++) {
      for (let symbol = 0; symbol < width; symbol++) {
        this.delta[rank[state]! * width + symbol] = rank[full[state * width + symbol]!]! * width;
      }
    }
    this.outputs = order.slice(first).map((state) => own[state]!);
    this.anyCaseLongest = Int32Array.from(this.outputs, (list) =>
      list.every((output) => output.exact === undefined)
        ? Math.max(...list.map((output) => output.length))
        : 0,
    );
  }

  /**
   * Scans text[from, to) and returns the index just past the first keyword found (exactly, for
   * case-sensitive ones), or -1. Keywords that end at the same place as a non-matching
   * case-sensitive one are still found.
   */
  firstEnd(text: string, from: number, to: number): number {
    // The hot loop of the engine: the tables in locals, one branch per character.
    const { latin1, symbols, delta, firstOutput } = this;
    let row = 0;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      row = delta[row + (c < 256 ? latin1[c]! : symbols[c]!)]!;
      if (row >= firstOutput && this.verified(text, i + 1, row)) return i + 1;
    }
    return -1;
  }

  /**
   * The index just past the first keyword of each line of `text` that holds one (as firstEnd would
   * find it from the line's start), in order. One scan's steps each wait for the table read of the
   * step before, so a scan is bound by that latency, not by its work: two scans run side by side
   * here, over the lines of each half of the text, and their reads overlap (~1.6× as fast on
   * ordinary logs, issue 17's `npm run bench -- redact`). No keyword holds a line break
   * (the constructor checks), so each line can be scanned from the start state.
   */
  lineEnds(text: string): number[] {
    const { latin1, symbols, delta, firstOutput } = this;
    const length = text.length;
    const middle = length >> 1;
    // The second half starts on a line: after the first line break at or past the middle.
    const split = middle === 0 ? length : text.indexOf("\n", middle) + 1 || length;
    const first: number[] = [];
    const second: number[] = [];
    let rowA = 0;
    let rowB = 0;
    let i = 0;
    let j = split;
    while (i < split && j < length) {
      const a = text.charCodeAt(i);
      const b = text.charCodeAt(j);
      rowA = delta[rowA + (a < 256 ? latin1[a]! : symbols[a]!)]!;
      rowB = delta[rowB + (b < 256 ? latin1[b]! : symbols[b]!)]!;
      i++;
      j++;
      if (rowA >= firstOutput && this.verified(text, i, rowA)) {
        first.push(i);
        rowA = 0;
        i = text.indexOf("\n", i) + 1 || split;
      }
      if (rowB >= firstOutput && this.verified(text, j, rowB)) {
        second.push(j);
        rowB = 0;
        j = text.indexOf("\n", j) + 1 || length;
      }
    }
    this.linesFrom(text, i, split, rowA, first);
    this.linesFrom(text, j, length, rowB, second);
    for (const end of second) first.push(end);
    return first;
  }

  /** lineEnds for text[from, to) with one scan, from state `row`. */
  private linesFrom(text: string, from: number, to: number, row: number, out: number[]): void {
    const { latin1, symbols, delta, firstOutput } = this;
    for (let i = from; i < to; ) {
      const c = text.charCodeAt(i);
      row = delta[row + (c < 256 ? latin1[c]! : symbols[c]!)]!;
      i++;
      if (row >= firstOutput && this.verified(text, i, row)) {
        out.push(i);
        row = 0;
        i = text.indexOf("\n", i) + 1 || to;
      }
    }
  }

  /**
   * The first keyword found scanning text[from, to) (the one ending first, the longest of those
   * ending there), as [start, end], or undefined. Of keywords lying inside one run of letters, the
   * one ending first is also one starting first; runs apart are found in their order.
   */
  firstMatch(text: string, from: number, to: number): [number, number] | undefined {
    const { latin1, symbols, delta, firstOutput, outputs, shift } = this;
    let row = 0;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      row = delta[row + (c < 256 ? latin1[c]! : symbols[c]!)]!;
      if (row < firstOutput) continue;
      const state = (row - firstOutput) >> shift;
      let longest = this.anyCaseLongest[state]!;
      if (longest > 0) return [i + 1 - longest, i + 1];
      for (const output of outputs[state]!) {
        if (output.length <= longest) continue;
        if (output.exact === undefined || text.startsWith(output.exact, i + 1 - output.length))
          longest = output.length;
      }
      if (longest > 0) return [i + 1 - longest, i + 1];
    }
    return undefined;
  }

  /**
   * Sets `found[owner + 1]` for the owner of every keyword occurrence in `text` (overlapping ones
   * included).
   */
  owners(text: string, found: Uint8Array): void {
    const { latin1, symbols, delta, firstOutput, outputs, shift } = this;
    let row = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      row = delta[row + (c < 256 ? latin1[c]! : symbols[c]!)]!;
      if (row < firstOutput) continue;
      const list = outputs[(row - firstOutput) >> shift]!;
      for (let k = 0; k < list.length; k++) {
        const output = list[k]!;
        if (output.exact === undefined || text.startsWith(output.exact, i + 1 - output.length)) {
          found[output.owner + 1] = 1;
        }
      }
    }
  }

  /** True when a keyword of output state `state` really occurs ending at `end` (case-sensitive ones exactly). */
  private verified(text: string, end: number, row: number): boolean {
    for (const output of this.outputs[(row - this.firstOutput) >> this.shift]!) {
      if (output.exact === undefined || text.startsWith(output.exact, end - output.length)) return true;
    }
    return false;
  }
}
