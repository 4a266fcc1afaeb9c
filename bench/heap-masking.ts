/**
 * `npm run bench -- heap-masking`: how many strings the agent masks in a heap snapshot of a
 * workload that holds no secret (issue 17: 108 of 119 masked strings of one snapshot were V8
 * builtin names such as `CEntry_Return1_…`). Goal: at most 0.1% of the strings masked, and no
 * builtin name of V8 or Node among them.
 *
 * Two real Node 24 processes, each started with no secret in its environment or memory: the demo
 * workload (examples/workload.mjs, run as `keyhole demo` runs it, without DEMO_API_KEY and
 * DATABASE_URL) and a Fastify app (bench/hello-fastify.ts), each served a few requests first. Each
 * snapshot goes through the agent's own path: the heap-snapshot action (inspector, JsonStringMasker,
 * redactor.maskText), after the redactor learned the target's environment and command line as the
 * agent does before every action. The redactor is wrapped to see every string and what it became.
 * Printed: strings, masked, masked %, the masked strings grouped by rule with examples (none is a
 * secret: the workloads hold none), and the same snapshot taken without redaction as the reference
 * for time and size.
 */
import { request } from "node:http";
import { looksRandom } from "../agent/redact/entropy.js";
import { type HeapMasking, MAX_MASKED_SHARE, snapshotMasking } from "../test/helpers/heap-masking.js";
import { prng } from "../test/unit/agent/redact/samples.js";
import { type BenchResult, ROOT, startNode } from "./lib.js";

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path }, (res) => {
      res.resume();
      res.once("end", resolve);
    });
    req.once("error", reject);
    req.end();
  });
}

/** The workloads, each started with no secret: only PATH and what the workload needs to run. */
const WORKLOADS = [
  {
    name: "demo workload (examples/workload.mjs, DEMO_API_KEY and DATABASE_URL removed)",
    args: [`${ROOT}examples/workload.mjs`],
    env: { PORT: "0", NODE_ENV: "production", LOG_LEVEL: "info" },
  },
  {
    name: "Fastify app (bench/hello-fastify.ts)",
    args: [`${ROOT}dist/bench/hello-fastify.js`],
    env: {},
  },
] as const;

function describe(m: HeapMasking): string {
  const lines = [
    `  strings ${m.strings.toLocaleString("en-US")}, masked ${m.masked} (${((m.masked / m.strings) * 100).toFixed(4)}%), ` +
      `builtin names masked: ${m.builtins.length}`,
  ];
  for (const [rule, { count, examples }] of [...m.byRule].sort((a, b) => b[1].count - a[1].count)) {
    lines.push(`    ${rule}: ${count}`);
    for (const example of examples) lines.push(`      ${JSON.stringify(example)}`);
  }
  return lines.join("\n");
}

/** Examples printed per rule (KEYHOLE_HEAP_EXAMPLES). */
const EXAMPLES = Number(process.env.KEYHOLE_HEAP_EXAMPLES ?? 5);
const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const TOKEN_ALPHABETS: Record<string, string> = {
  base62: BASE62,
  base64: `${BASE62}+/`,
  base64url: `${BASE62}-_`,
};

/**
 * The entropy rule's recall on random tokens (the price of its identifier exception): of 100,000
 * seeded random tokens per alphabet and length, how many holding upper case, lower case and a
 * digit (the others no rule can take for random) it leaves in clear.
 */
function entropyMisses(): string[] {
  const lines: string[] = [];
  for (const [name, alphabet] of Object.entries(TOKEN_ALPHABETS)) {
    for (const length of [32, 40]) {
      const random = prng(length * 1000 + name.length);
      let eligible = 0;
      let missed = 0;
      for (let i = 0; i < 100_000; i++) {
        let token = "";
        for (let k = 0; k < length; k++) token += alphabet[Math.floor(random() * alphabet.length)];
        if (!/[A-Z]/.test(token) || !/[a-z]/.test(token) || !/[0-9]/.test(token)) continue;
        eligible++;
        if (!looksRandom(token, token, 0)) missed++;
      }
      lines.push(`  ${name} ${length}: missed ${missed} of ${eligible} (100,000 drawn)`);
    }
  }
  return lines;
}

export async function benchHeapMasking(): Promise<BenchResult[]> {
  process.stdout.write(`entropy rule on random tokens:\n${entropyMisses().join("\n")}\n`);
  const results: BenchResult[] = [];
  for (const workload of WORKLOADS) {
    const target = await startNode(["--inspect-port=0", ...workload.args], (line) => line.ready === true, {
      PATH: process.env.PATH ?? "",
      ...workload.env,
    });
    try {
      const pid = Number(target.ready.pid ?? target.child.pid);
      const port = Number(target.ready.port);
      for (let i = 0; i < 50; i++) await get(port, i % 2 ? "/" : `/orders?id=${i}`);
      // Warm-up: the first snapshot of a process is slower (lazy V8 and inspector set-up).
      await snapshotMasking(pid, false);
      const raw = await snapshotMasking(pid, false);
      const masked = await snapshotMasking(pid, true, EXAMPLES);
      const share = masked.masked / masked.strings;
      process.stdout.write(
        `${workload.name}\n${describe(masked)}\n` +
          `  without redaction: ${(raw.ms / 1000).toFixed(2)} s, ${(raw.bytes / 1024 ** 2).toFixed(1)} MB; ` +
          `with: ${(masked.ms / 1000).toFixed(2)} s, ${(masked.bytes / 1024 ** 2).toFixed(1)} MB\n`,
      );
      results.push({
        name: `heap-masking: ${workload.name}`,
        value: `${masked.masked} of ${masked.strings} strings masked (${(share * 100).toFixed(4)}%), ${masked.builtins.length} builtin names; ${(masked.ms / 1000).toFixed(2)} s`,
        reference: `the same snapshot without redaction: ${(raw.ms / 1000).toFixed(2)} s, ${(raw.bytes / 1024 ** 2).toFixed(1)} MB`,
        ratio: masked.ms / raw.ms,
        goal: "≤ 0.1% masked, no builtin name",
        met: share <= MAX_MASKED_SHARE && masked.builtins.length === 0,
      });
    } finally {
      await target.stop();
    }
  }
  return results;
}
