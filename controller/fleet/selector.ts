/**
 * Label selectors, the equality-based subset of Kubernetes': `app=payments,tier!=batch,canary,!legacy`.
 * Every term must hold (AND). Keys and values use the label shapes below, so a selector never needs
 * quoting and cannot smuggle anything into a log line or a SQL statement.
 */

import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from "../../protocol/fleet.js";

export type SelectorTerm =
  | { readonly key: string; readonly op: "=" | "!="; readonly value: string }
  | { readonly key: string; readonly op: "exists" | "!exists" };

export interface Selector {
  /** The canonical text: terms as parsed, joined by commas. */
  readonly text: string;
  readonly terms: readonly SelectorTerm[];
}

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SelectorError";
  }
}

/** Parses a selector; throws SelectorError naming the bad term. An empty text selects everything. */
export function parseSelector(text: string): Selector {
  const trimmed = text.trim();
  if (trimmed.length > 1024) throw new SelectorError("a selector is at most 1024 characters");
  const terms: SelectorTerm[] = [];
  for (const raw of trimmed === "" ? [] : trimmed.split(",")) {
    const part = raw.trim();
    const eq = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    let term: SelectorTerm;
    if (eq) {
      const [, key, op, value] = eq as unknown as [string, string, string, string];
      term = { key, op: op === "!=" ? "!=" : "=", value };
      if (!LABEL_VALUE_PATTERN.test(value))
        throw new SelectorError(`selector term "${part}": "${value}" is not a label value`);
    } else if (part.startsWith("!")) {
      term = { key: part.slice(1).trim(), op: "!exists" };
    } else {
      term = { key: part, op: "exists" };
    }
    if (!LABEL_KEY_PATTERN.test(term.key))
      throw new SelectorError(`selector term "${part}": "${term.key}" is not a label key`);
    terms.push(term);
  }
  return Object.freeze({ text: terms.map(formatTerm).join(","), terms: Object.freeze(terms) });
}

function formatTerm(term: SelectorTerm): string {
  switch (term.op) {
    case "=":
    case "!=":
      return `${term.key}${term.op}${term.value}`;
    case "exists":
      return term.key;
    case "!exists":
      return `!${term.key}`;
  }
}

/** True when every term holds for `labels`. */
export function selectorMatches(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.terms.every((term) => {
    const has = Object.hasOwn(labels, term.key);
    if (term.op === "=") return has && labels[term.key] === term.value;
    if (term.op === "!=") return !has || labels[term.key] !== term.value;
    return term.op === "exists" ? has : !has;
  });
}
