/**
 * YAML files validated with positions: every problem names `file:line:col` and the path inside the
 * document, e.g. `policy.yaml:7:5 bindings[1].role: unknown role "suport"`. Used by the policy and the
 * inventory so both report errors the same way.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { z } from "zod";

export type YamlPath = readonly (string | number)[];

/** Renders a document path the way an operator would write it: `bindings[1].role`. */
export function formatYamlPath(path: YamlPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === "" ? "(root)" : out;
}

/** One parsed YAML file that collects located problems; read `data` only when `problems` is empty. */
export class YamlSource {
  readonly file: string;
  readonly data: unknown;
  readonly problems: string[] = [];
  private readonly lines = new LineCounter();
  private readonly doc;

  constructor(text: string, file: string) {
    this.file = file;
    // uniqueKeys (the default) turns a repeated key into a parse error instead of a silent override.
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    for (const err of this.doc.errors) this.problems.push(`${this.at(err.pos[0])} ${err.message}`);
    this.data = this.doc.errors.length === 0 ? this.doc.toJS({ maxAliasCount: 100 }) : undefined;
  }

  /** Records a problem at the node `path` points to (or its nearest existing ancestor). */
  problem(path: YamlPath, message: string, options: { atKey?: boolean } = {}): void {
    this.problems.push(
      `${this.at(this.offsetOf(path, options.atKey ?? false))} ${formatYamlPath(path)}: ${message}`,
    );
  }

  /**
   * Validates `data` with a zod schema; every issue becomes a located problem. Returns the parsed value,
   * or undefined when there were issues (which are then in `problems`).
   */
  check<S extends z.ZodType>(schema: S): z.output<S> | undefined {
    if (this.doc.errors.length > 0) return undefined;
    const result = schema.safeParse(this.data);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
      if (issue.code === "unrecognized_keys") {
        // Point at each unknown key itself rather than at the mapping that holds it.
        for (const key of issue.keys) this.problem([...path, key], `unknown key "${key}"`, { atKey: true });
      } else if (issue.code === "invalid_key") {
        // A record key failed its schema: zod keeps the useful message in the nested issue.
        this.problem(path, issue.issues[0]?.message ?? issue.message, { atKey: true });
      } else {
        this.problem(path, issue.message);
      }
    }
    return undefined;
  }

  private at(offset: number): string {
    const { line, col } = this.lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  private offsetOf(path: YamlPath, atKey: boolean): number {
    let node: unknown = this.doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (const [i, part] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part),
        );
        if (!pair) break;
        const keyStart = rangeStart(pair.key);
        const valueStart = rangeStart(pair.value);
        offset = (last && atKey ? keyStart : (valueStart ?? keyStart)) ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof part === "number") {
        const item = node.items[part];
        if (item === undefined) break;
        offset = rangeStart(item) ?? offset;
        node = item;
      } else {
        break;
      }
    }
    return offset;
  }
}

function rangeStart(node: unknown): number | undefined {
  return node && typeof node === "object" && "range" in node
    ? ((node as Node).range?.[0] ?? undefined)
    : undefined;
}
