import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AGENT_ERRORS } from "../../agent/errors.js";
import { CONTROLLER_ERRORS } from "../../controller/errors.js";

const docs = (file: string) => readFileSync(new URL(`../../docs/${file}`, import.meta.url), "utf8");

/** `| 403 | \`KH_X\` |` rows of a markdown table → code → status. */
function documentedCodes(markdown: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const match of markdown.matchAll(/^\|\s*(\d{3})\s*\|\s*`(KH_[A-Z_]+)`/gm)) {
    rows.set(match[2]!, Number(match[1]));
  }
  return rows;
}

describe("error catalogues", () => {
  it.each([
    ["agent", AGENT_ERRORS, "errors.md"],
    ["controller", CONTROLLER_ERRORS, "controller-api.md"],
  ] as const)("every %s code is documented with its status", (_service, catalogue, file) => {
    const documented = documentedCodes(docs(file));
    for (const [code, { status }] of Object.entries(catalogue)) {
      expect({ code, status: documented.get(code) }).toEqual({ code, status });
    }
  });

  it("a code means the same status in both services", () => {
    for (const [code, { status }] of Object.entries(CONTROLLER_ERRORS)) {
      const agent = (AGENT_ERRORS as Record<string, { status: number }>)[code];
      if (agent) expect({ code, status }).toEqual({ code, status: agent.status });
    }
  });

  it("codes follow the KH_UPPER_SNAKE form and statuses are 4xx/5xx", () => {
    for (const [code, { status }] of [
      ...Object.entries(AGENT_ERRORS),
      ...Object.entries(CONTROLLER_ERRORS),
    ]) {
      expect(code).toMatch(/^KH_[A-Z]+(_[A-Z]+)*$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
  });
});
