import { describe, expect, it } from "vitest";
import { DETECTORS } from "../../../../agent/redact/detectors.js";
import { KEY_PATTERN, VALUE_AFTER_COLON, VALUE_AFTER_EQUALS } from "../../../../agent/redact/key-values.js";
import { PLAIN_RULES } from "../../../../agent/redact/plain-values.js";
import { threadCpuMs } from "../../../helpers/thread-cpu.js";
import { expand, MARKER, redactor, rulesIn } from "./samples.js";

const SEEDS = [1, 2, 3, 42, 1337];

/** Unbounded quantifiers (`*`, `+`, `{n,}`) outside character classes, found by a small scanner. */
function unboundedQuantifiers(source: string): string[] {
  const found: string[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      continue;
    }
    if (ch === "[") inClass = true;
    else if (ch === "*" || ch === "+") found.push(`${ch} at ${i}`);
    else if (ch === "{" && /^\{[0-9]{1,6},\}/.test(source.slice(i))) found.push(`{n,} at ${i}`);
  }
  return found;
}

describe("the detector table", () => {
  it("has unique ids usable in markers, descriptions and samples", () => {
    const ids = DETECTORS.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of DETECTORS) {
      expect(d.id).toMatch(/^[a-z0-9][a-z0-9-]{0,39}$/);
      expect(d.description.length).toBeGreaterThan(10);
      // A rule that only shows another what is public masks nothing: it has no sample.
      expect(d.samples.length > 0 || d.replace?.(/x/d.exec("x")!, () => "") === undefined).toBe(true);
      expect(d.pattern.flags).toContain("g");
      expect(d.pattern.flags).toContain("d");
    }
  });

  it("uses only bounded quantifiers (no ReDoS by construction)", () => {
    const patterns = [
      ...DETECTORS.map((d) => [d.id, d.pattern] as const),
      ["key", KEY_PATTERN] as const,
      ["value=", VALUE_AFTER_EQUALS] as const,
      ["value:", VALUE_AFTER_COLON] as const,
      ...PLAIN_RULES.map(([kind, pattern]) => [`plain:${kind}`, pattern] as const),
    ];
    for (const [id, pattern] of patterns)
      expect({ id, found: unboundedQuantifiers(pattern.source) }).toEqual({ id, found: [] });
  });

  it("stays fast on long near-miss input", () => {
    const r = redactor();
    const hostile = [
      "a".repeat(200_000),
      `eyJ${"a".repeat(50_000)}.eyJ${"b".repeat(50_000)}`,
      `${"x://".repeat(20_000)}`,
      `${"Bearer ".repeat(20_000)}`,
      `postgres://${"u".repeat(300)}:${"p".repeat(300)}`.repeat(200),
      `token=${"a,".repeat(50_000)}`,
      `"password": "${"\\\\".repeat(50_000)}`,
      `${"-----BEGIN PRIVATE KEY-----".repeat(3000)}`,
      `sk-${"a".repeat(100_000)}`,
    ];
    for (const text of hostile) {
      expect(threadCpuMs(() => r.maskText(text))).toBeLessThan(2000);
    }
  });
});

describe.each(DETECTORS.map((d) => [d.id, d] as const))("detector %s", (id, detector) => {
  it("masks every generated sample, alone and inside text, naming its rule", () => {
    const r = redactor();
    for (const template of detector.samples) {
      for (const seed of SEEDS) {
        const sample = expand(template, seed);
        const around = detector.wholeLines
          ? [`first line\n${sample}\nlast line`, `# listing\n\n${sample}\n`]
          : [`value: ${sample} (seen)`, `[${sample}]`, `x="${sample}"`];
        for (const text of [sample, ...around]) {
          const masked = r.maskText(text);
          expect(rulesIn(masked)).toContain(id);
          expect(masked.split("\n").length).toBe(text.split("\n").length);
        }
      }
    }
  });
});

describe("what detectors keep", () => {
  const r = redactor();

  it("keeps a URL's scheme, user, host, port and path; masks only the password", () => {
    const password = expand("{alnum:16}", 5);
    const masked = r.maskText(`DATABASE_URL=postgres://app:${password}@db.internal:5432/app?sslmode=require`);
    expect(masked).toMatch(
      /^DATABASE_URL=postgres:\/\/app:⟦masked:url-credentials:[0-9a-f]{12}⟧@db\.internal:5432\/app\?sslmode=require$/,
    );
  });

  it("handles an unencoded '@' in a password (masks up to the last '@')", () => {
    expect(r.maskText("redis://default:p@ss:w0rd@cache:6379")).toMatch(
      /^redis:\/\/default:⟦masked:url-credentials:[0-9a-f]{12}⟧@cache:6379$/,
    );
  });

  it("keeps the Bearer and Basic scheme words", () => {
    const token = expand("{b64url:40}", 9);
    expect(r.maskText(`curl -H "Authorization: Bearer ${token}"`)).toMatch(
      /^curl -H "Authorization: Bearer ⟦masked:authorization-credentials:[0-9a-f]{12}⟧"$/,
    );
  });

  it("keeps the armour lines of a PEM block and its line count", () => {
    const block = expand(DETECTORS.find((d) => d.id === "pem-private-key")!.samples[0]!, 3);
    const text = `before\n${block}\nafter`;
    const masked = r.maskText(text);
    const lines = masked.split("\n");
    expect(lines.length).toBe(text.split("\n").length);
    expect(lines[0]).toBe("before");
    expect(lines[1]).toMatch(/^-----BEGIN PRIVATE KEY-----⟦masked:pem-private-key:[0-9a-f]{12}⟧$/);
    expect(lines.at(-2)).toBe("-----END PRIVATE KEY-----");
    expect(lines.at(-1)).toBe("after");
  });

  it("masks an unterminated PEM block to the end (a truncated log must not leak the key)", () => {
    const text = `-----BEGIN EC PRIVATE KEY-----\n${expand("{b64:64}\n{b64:64}", 4)}`;
    const masked = r.maskText(text);
    expect(masked).not.toMatch(/[A-Za-z0-9+/]{20}/);
    expect(masked.split("\n").length).toBe(3);
  });

  it("distinguishes Anthropic from OpenAI keys", () => {
    expect(rulesIn(r.maskText(expand("sk-ant-api03-{b64url:80}", 1)))).toEqual(["anthropic-key"]);
    expect(rulesIn(r.maskText(expand("sk-proj-{digit:2}{upper:2}{b64url:100}", 1)))).toEqual(["openai-key"]);
  });
});

describe("non-secrets the detectors leave alone", () => {
  const r = redactor();
  const plain = [
    "commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 merged",
    "request 6f1c2e3d-4b5a-4c6d-8e7f-9a0b1c2d3e4f done",
    "GET https://api.example.com/v1/users?page=2 200",
    "listening on http://0.0.0.0:8080",
    "scikit-learn==1.4.2 numpy==1.26",
    "disk-usage-report --task-name=nightly",
    "Basic authentication is disabled; use Bearer authentication",
    "AKIA is the prefix of AWS access key ids",
    "the sk-learn package and sk-some-kebab-name",
    "path /var/log/app/2024-05-01.log line 12",
    "eyJhbGciOiJIUzI1NiJ9 alone is only a header",
    "ssh://git@github.com/org/repo.git",
  ];
  it.each(plain)("%s", (text) => {
    expect(r.maskText(text)).toBe(text);
  });

  it("does not flag its own markers", () => {
    const masked = r.maskText(expand("token ghp_{alnum:36}", 2));
    expect(masked).toMatch(MARKER);
    expect(r.maskText(masked)).toBe(masked);
  });
});
