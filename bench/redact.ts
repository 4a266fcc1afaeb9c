/**
 * Masking throughput: `maskText` on ~100 MB of realistic logs (a few secrets per thousand lines)
 * against secretlint's recommended preset (`@secretlint/core` + the preset, a devDependency of
 * the bench only) on the same text, in the same run: goal ≥ 1.5× its throughput. Both engines get
 * the same 64 KB chunks of whole lines (log-tail masks its window in one call the same way), and
 * each is timed over the whole text after a warm-up on one chunk. Also printed: masking line by
 * line, how many planted secrets each engine caught, and the corpus scores of the same engine.
 *
 * The redactor knows 20 values, as after the env action primed it on a typical target.
 */
import { createRedactor, DETECTORS } from "../agent/redact/index.js";
import { scoreCorpus } from "../test/fixtures/redaction/corpus.js";
import { expand } from "../test/unit/agent/redact/samples.js";
import type { BenchResult } from "./lib.js";

const TARGET_BYTES = 100 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
/** One secret about every this many lines (≈ 4 per thousand). */
const SECRET_EVERY = 250;

const PATHS = ["/api/orders", "/api/users/me", "/healthz", "/api/cart/items", "/api/search?q=shoes&page=2"];
const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];

/** A small deterministic PRNG for the generator. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A secret-bearing line: a vendor token, a named password, URL credentials or a JWT. */
function secretLine(i: number, at: string): { line: string; secret: string } {
  const detector = DETECTORS[i % DETECTORS.length]!;
  const kind = i % 4;
  if (kind === 0) {
    const secret = expand(`{alnum:8}{digit:2}{alnum:6}`, i);
    return { line: `${at} INFO [db] connecting postgres://app:${secret}@db.internal:5432/app`, secret };
  }
  if (kind === 1) {
    const secret = expand(`{alnum:10}{digit:3}`, i);
    return { line: `${at} DEBUG config loaded db_password=${secret} pool=10`, secret };
  }
  const template = detector.samples[i % detector.samples.length]!;
  const secret = expand(template.replace(/\n|\\n/g, " "), i);
  return { line: `${at} WARN [client] request with credentials ${secret} failed status=401`, secret };
}

/** Generates the logs as 64 KB chunks of whole lines, and the secrets planted in them. */
function generate(): {
  chunks: string[];
  planted: { secret: string; chunk: number }[];
  bytes: number;
  lines: number;
} {
  const random = prng(42);
  const chunks: string[] = [];
  const planted: { secret: string; chunk: number }[] = [];
  let current: string[] = [];
  let size = 0;
  let bytes = 0;
  let lines = 0;
  const start = Date.UTC(2024, 4, 1);
  for (let i = 0; bytes < TARGET_BYTES; i++) {
    const at = new Date(start + i * 37).toISOString();
    const r = random();
    let line: string;
    if (i % SECRET_EVERY === SECRET_EVERY - 1) {
      const s = secretLine(Math.floor(i / SECRET_EVERY), at);
      line = s.line;
      planted.push({ secret: s.secret, chunk: chunks.length });
    } else if (r < 0.45) {
      line = `${at} ${LEVELS[i % LEVELS.length]} [http-${i % 16}] GET ${PATHS[i % PATHS.length]} status=${i % 23 === 0 ? 500 : 200} duration_ms=${(i * 7) % 900} request_id=${((i * 2654435761) >>> 0).toString(16)} user=u${i % 5000}`;
    } else if (r < 0.7) {
      line = `{"level":30,"time":${start + i},"pid":41,"hostname":"payments-7d9f8c6b5-x2x9k","reqId":"req-${i.toString(36)}","msg":"request completed","responseTime":${(i * 13) % 700},"trace_id":"${((i * 40503) >>> 0).toString(16).padStart(8, "0")}${"0".repeat(24)}"}`;
    } else if (r < 0.8) {
      line = `    at ${["handler", "Layer.handle", "next", "processTicksAndRejections"][i % 4]} (/app/dist/routes/orders.js:${100 + (i % 50)}:${i % 30})`;
    } else if (r < 0.9) {
      line = `${at} INFO [auth] session refreshed for user u${i % 5000} ttl=15m token_type=Bearer cache_key=user:${i % 5000}:profile`;
    } else {
      line = `${at} INFO [deploy] pulled registry.example.com/payments@sha256:${((i * 2246822519) >>> 0).toString(16).padStart(8, "0").repeat(8)} commit=${((i * 3266489917) >>> 0).toString(16).padStart(8, "0").repeat(5)}`;
    }
    current.push(line);
    size += line.length + 1;
    bytes += line.length + 1;
    lines++;
    if (size >= CHUNK_BYTES) {
      chunks.push(current.join("\n"));
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) chunks.push(current.join("\n"));
  return { chunks, planted, bytes, lines };
}

type Lint = (chunk: string) => Promise<number>;

/** secretlint's Node API with the recommended preset, or undefined when it is not installed. */
async function loadSecretlint(): Promise<Lint | undefined> {
  try {
    const core = "@secretlint/core";
    const presetName = "@secretlint/secretlint-rule-preset-recommend";
    const { lintSource } = (await import(core)) as typeof import("@secretlint/core");
    const { creator } = (await import(presetName)) as { creator: unknown };
    const config = { rules: [{ id: presetName, rule: creator }] };
    return async (chunk) => {
      const result = await lintSource({
        source: { filePath: "/bench/app.log", content: chunk, ext: ".log", contentType: "text" },
        options: { config: config as never, maskSecrets: true, noPhysicFilePath: true },
      });
      return result.messages.length;
    };
  } catch {
    return undefined;
  }
}

const mbps = (bytes: number, ms: number) => bytes / 1024 / 1024 / (ms / 1000);

/** Runs the benchmark; see the file comment. */
export async function benchRedact(): Promise<BenchResult[]> {
  const { chunks, planted, bytes, lines } = generate();
  const redactor = createRedactor({ fingerprintKey: new Uint8Array(32).fill(3) });
  for (let i = 0; i < 20; i++) redactor.remember(expand(`env-secret-{alnum:16}-${i}`, 1000 + i));

  // Warm-up, then the whole text in 64 KB chunks.
  redactor.maskText(chunks[0]!);
  let masked: string[] = [];
  let t = performance.now();
  masked = chunks.map((chunk) => redactor.maskText(chunk));
  const ourMs = performance.now() - t;
  const caught = planted.filter((p) => !masked[p.chunk]!.includes(p.secret)).length;

  // Line by line, on the first 10 MB: the cost of many small calls (heap strings, CLI).
  const tenMb = chunks.slice(0, Math.ceil((10 * 1024 * 1024) / CHUNK_BYTES));
  const lineList = tenMb.flatMap((chunk) => chunk.split("\n"));
  const lineBytes = tenMb.reduce((n, c) => n + c.length + 1, 0);
  t = performance.now();
  for (const line of lineList) redactor.maskText(line);
  const lineMs = performance.now() - t;

  const score = scoreCorpus(() => createRedactor({ fingerprintKey: new Uint8Array(32).fill(3) }));
  const corpus = `corpus (${score.cases} cases): recall ${(100 * score.recall).toFixed(1)}%, false positives ${(100 * score.falsePositiveRate).toFixed(1)}%, context kept ${(100 * score.contextKept).toFixed(1)}%`;
  const ours = `maskText ${mbps(bytes, ourMs).toFixed(0)} MB/s on ${(bytes / 1024 / 1024).toFixed(0)} MB (${lines} lines, 64 KB chunks); line by line ${mbps(lineBytes, lineMs).toFixed(0)} MB/s; caught ${caught}/${planted.length} planted secrets`;

  const lint = await loadSecretlint();
  if (!lint) {
    return [
      {
        name: "redact: maskText throughput vs secretlint (secretlint not installed)",
        value: ours,
        reference: "secretlint not installed: no reference",
        ratio: Number.NaN,
        goal: "≥ 1.5×",
        met: false,
        extra: corpus,
      },
    ];
  }
  await lint(chunks[0]!);
  let findings = 0;
  t = performance.now();
  for (const chunk of chunks) findings += await lint(chunk);
  const theirMs = performance.now() - t;
  const ratio = mbps(bytes, ourMs) / mbps(bytes, theirMs);
  return [
    {
      name: "redact: maskText throughput vs secretlint recommended preset, same 100 MB",
      value: ours,
      reference: `secretlint ${mbps(bytes, theirMs).toFixed(0)} MB/s on the same chunks; ${findings} findings on ${planted.length} planted secrets`,
      ratio,
      goal: "≥ 1.5×",
      met: ratio >= 1.5 && score.recall >= 0.99,
      extra: corpus,
    },
  ];
}
