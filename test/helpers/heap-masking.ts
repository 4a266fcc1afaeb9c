/**
 * One heap snapshot of a live Node process through the agent's own path, with every string the
 * redactor saw and what it became: the heap-snapshot action (inspector, JsonStringMasker,
 * redactor.maskText) run by the ActionRunner, after the redactor learned the target's environment
 * and command line as the agent does before every action. Shared by `bench/heap-masking.ts` and
 * `test/integration/agent/heap-masking.test.ts` (issue 17: a workload holding no secret must
 * come out with at most 0.1% of its strings masked and none of V8's builtin names).
 */
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import pino from "pino";
import { createHeapSnapshotAction } from "../../agent/actions/heap-snapshot.js";
import type { ActionDefinition } from "../../agent/actions/types.js";
import { learnTargetSecrets } from "../../agent/learn-target.js";
import { createRedactor, type Redactor } from "../../agent/redact/index.js";
import { ActionRunner, RunningStream } from "../../agent/run-action.js";

/** The goal: masked strings per string of a no-secret workload's snapshot (issue 17). */
export const MAX_MASKED_SHARE = 0.001;
const MARKER_RULE = /⟦masked:([a-z0-9-]{1,40}):/g;
/**
 * How a snapshot names V8's builtins, stubs and bytecode handlers: `(CEntry_Return1_… builtin
 * code)`, `(… builtin)`, `751 / CEntry_Return1_…`. A string that is one of those names alone counts
 * too. Independent of the masking rules: it reads the names off the snapshot's own strings.
 */
const BUILTIN_WRAPPED =
  /^(?:\((?<a>[A-Za-z0-9_$]{1,200}) builtin(?: code)?\)|[0-9]{1,6} \/ (?<b>[A-Za-z0-9_$]{1,200}))$/;

export interface HeapMasking {
  readonly strings: number;
  readonly masked: number;
  /** Masked strings by rule, with up to five examples each. */
  readonly byRule: Map<string, { count: number; examples: string[] }>;
  /** Masked strings that are V8 builtin names or name one (BUILTIN_WRAPPED). */
  readonly builtins: string[];
  readonly ms: number;
  readonly bytes: number;
}

/** A redactor that passes every string through `base` and records what it changed. */
function recording(base: Redactor): {
  redactor: Redactor;
  seen: () => number;
  changed: [string, string][];
  builtinNames: Set<string>;
} {
  let seen = 0;
  const changed: [string, string][] = [];
  const builtinNames = new Set<string>();
  const redactor: Redactor = {
    ...base,
    maskText(text) {
      seen++;
      const name = BUILTIN_WRAPPED.exec(text)?.groups;
      if (name) builtinNames.add(name.a ?? name.b ?? "");
      const out = base.maskText(text);
      if (out !== text) changed.push([text, out]);
      return out;
    },
  };
  return { redactor, seen: () => seen, changed, builtinNames };
}

/** One snapshot of `pid` through the heap-snapshot action; up to `examples` examples per rule. */
export async function snapshotMasking(pid: number, redact: boolean, examples = 5): Promise<HeapMasking> {
  const base = createRedactor({ fingerprintKey: Buffer.alloc(32, 5) });
  const { redactor, seen, changed, builtinNames } = recording(base);
  const learned = learnTargetSecrets({ pid, procRoot: "/proc", redactor: base });
  if (learned) throw new Error(`could not learn the target: ${String(learned.err)}`);
  const action = createHeapSnapshotAction({ cooldownMs: 0 }) as ActionDefinition;
  const started = performance.now();
  const result = await new ActionRunner().run(
    action,
    action.params.parse({ redact }),
    {
      pid,
      redactor,
      log: pino({ level: "warn" }),
      procRoot: "/proc",
      cgroupRoot: "/sys/fs/cgroup",
      logRoots: [],
    },
    new AbortController().signal,
  );
  if (!(result instanceof RunningStream)) throw new Error("heap-snapshot did not stream");
  await pipeline(result.stream, createWriteStream("/dev/null"));
  const outcome = await result.done;
  if (outcome.error) throw outcome.error;
  const ms = performance.now() - started;
  const byRule = new Map<string, { count: number; examples: string[] }>();
  const builtins: string[] = [];
  for (const [raw, out] of changed) {
    const rules = new Set([...out.matchAll(MARKER_RULE)].map((m) => m[1]!));
    for (const rule of rules) {
      const entry = byRule.get(rule) ?? { count: 0, examples: [] };
      entry.count++;
      if (entry.examples.length < examples) entry.examples.push(excerpt(raw, out));
      byRule.set(rule, entry);
    }
    if (BUILTIN_WRAPPED.test(raw) || builtinNames.has(raw)) builtins.push(raw);
  }
  return { strings: seen(), masked: changed.length, byRule, builtins, ms, bytes: outcome.bytes };
}

/** The string around its first masked piece (the output equals the input up to its marker). */
function excerpt(raw: string, out: string): string {
  const at = out.indexOf("⟦");
  const from = Math.max(0, at - 40);
  const piece = raw.slice(from, at + 60);
  return `${from > 0 ? "…" : ""}${piece}${at + 60 < raw.length ? "…" : ""}`;
}
