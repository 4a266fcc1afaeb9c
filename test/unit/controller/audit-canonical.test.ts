/** The record serialisation the chain hashes is exactly canonicalJson of the record's fields. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../controller/audit/canonical-json.js";
import { auditRecordCanonical } from "../../../controller/audit/chain.js";

const nullableText = fc.option(fc.string(), { nil: null });
const record = fc.record({
  seq: fc.integer({ min: 1, max: 2 ** 40 }),
  time: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  actor: fc.string(),
  event: fc.constantFrom("request.created", "breakglass.used", "some.future.event"),
  requestId: nullableText,
  details: fc.dictionary(fc.string(), fc.jsonValue()),
  reason: nullableText,
  ticket: nullableText,
  prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
});

describe("auditRecordCanonical", () => {
  it("equals canonicalJson over the same fields, for any record", () => {
    fc.assert(
      fc.property(record, (r) => {
        // biome-ignore lint/suspicious/noExplicitAny: fast-check's JSON values are what details may hold
        const typed = r as any;
        expect(auditRecordCanonical(typed)).toBe(canonicalJson(typed));
      }),
      { numRuns: 500 },
    );
  });
});

describe("auditableUrl", () => {
  it("keeps scheme, host, port and path, never credentials or a query", async () => {
    const { auditableUrl } = await import("../../../controller/dispatch/dispatcher.js");
    expect(auditableUrl("http://10.0.0.7:7070")).toBe("http://10.0.0.7:7070/");
    expect(auditableUrl("https://agent:s3cret@proxy.internal/p/agent-0?token=abc#x")).toBe(
      "https://proxy.internal/p/agent-0",
    );
  });
});
