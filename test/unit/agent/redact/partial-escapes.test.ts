/**
 * Issue 16, attack finding F5: a learned secret written with one character (or a few, in mixed
 * families) escaped slipped past the known-value masking, because a line was decoded only when it
 * held the value's longest raw run of letters and digits (its anchor), and the escaped character
 * sat inside that run. Each encoding alone, mixed ones, escapes of escapes, and lines that merely
 * resemble the secret (which must come out unchanged).
 */
import { describe, expect, it } from "vitest";
import { createRedactor } from "../../../../agent/redact/index.js";
import { firstHiddenAlnum, unescapedViews } from "../../../../agent/redact/unescape.js";

const SECRET = "Sup3rSecret";

function learned(...values: string[]) {
  const redactor = createRedactor({ fingerprintKey: Buffer.alloc(32, 7) });
  for (const value of values) redactor.remember(value);
  return redactor;
}

/** The line with `escaped` in place of the secret is masked there, and only there. */
function expectMasked(escaped: string) {
  const redactor = learned(SECRET);
  const line = `2024-05-01T10:00:00Z DEBUG upstream said ${escaped} (retrying)`;
  const out = redactor.maskText(line);
  expect(out).toMatch(
    /^2024-05-01T10:00:00Z DEBUG upstream said ⟦masked:known-value:[0-9a-f]{12}⟧ \(retrying\)$/,
  );
  // The marker carries the value's own fingerprint, whatever its form.
  expect(out).toContain(redactor.fingerprint(SECRET));
}

const hex = (c: string) => c.charCodeAt(0).toString(16);

describe("attack F5: a learned secret with some characters escaped", () => {
  const cases: [string, string][] = [
    ["a JSON/JS \\u escape", "Sup\\u0033rSecret"],
    ["a JSON/JS \\u escape, upper-case hex", "Sup3r\\u0053ecret"],
    ["a JS \\u{…} escape", "Sup\\u{33}rSecret"],
    ["a \\x byte escape", "Sup\\x33rSecret"],
    ["an octal \\OOO byte escape", "Sup\\063rSecret"],
    ["a decimal HTML character reference", "Sup&#51;rSecret"],
    ["a hex HTML character reference", "Sup&#x33;rSecret"],
    ["a hex HTML character reference with zeros, upper X", "Sup&#X0033;rSecret"],
    ["one %XX", "Sup%33rSecret"],
    ["one %XX at the start", "%53up3rSecret"],
    ["one %XX at the end", "Sup3rSecre%74"],
    ["every character percent-encoded twice", [...SECRET].map((c) => `%25${hex(c)}`).join("")],
    [
      "every character percent-encoded twice, upper-case",
      [...SECRET].map((c) => `%25${hex(c).toUpperCase()}`).join(""),
    ],
    ["one character percent-encoded twice", "Sup%2533rSecret"],
    ["one character percent-encoded three times", "Sup%252533rSecret"],
    ["an HTML reference HTML-escaped again", "Sup&amp;#51;rSecret"],
    ["a \\u escape JSON-escaped again", "Sup\\\\u0033rSecret"],
    ["a \\u escape percent-encoded", "Sup%5Cu0033rSecret"],
    ["a %XX whose % is a \\u escape", "Sup\\u002533rSecret"],
    ["mixed: \\u, & reference and %XX", "S\\u0075p&#51;r%53ecret"],
    [
      "mixed: every character escaped, each family in turn",
      "\\u0053&#117;%70\\x33&#x72;%53\\u0065&#99;%72\\x65&#x74;",
    ],
    ["mixed: every other character escaped", "S%75p\\u0033r&#83;e%63r\\x65t"],
  ];
  for (const [what, escaped] of cases) {
    it(`attack F5: ${what}: ${escaped}`, () => expectMasked(escaped));
  }

  it("attack F5: inside JSON and a URL, the rest of the line kept", () => {
    const redactor = learned(SECRET);
    const json = `{"level":30,"msg":"login","password":"Sup\\u0033rSecret","user":"alice"}`;
    expect(redactor.maskText(json)).toMatch(
      /^\{"level":30,"msg":"login","password":"⟦masked:[a-z-]+:[0-9a-f]{12}⟧","user":"alice"\}$/,
    );
    const url = "GET /callback?state=abc&token=Sup%33rSecret&next=%2Fhome 302";
    const out = redactor.maskText(url);
    expect(out).not.toContain("Sup%33rSecret");
    expect(out).toMatch(/^GET \/callback\?state=abc&token=⟦masked:[a-z-]+:[0-9a-f]{12}⟧&next=%2Fhome 302$/);
  });

  it("attack F5: in a stretch of many lines, only the line with the escaped secret changes", () => {
    const redactor = learned(SECRET, "an0ther-Learned-value");
    const lines = [
      "INFO plain line one",
      'INFO {"path":"/api/orders?q=a%20b","note":"caf\\u00e9 \\u0026 more"}',
      "WARN retry with Sup&#x33;rSecret now",
      "INFO C:\\\\Users\\\\svc\\\\logs opened",
    ];
    const out = redactor.maskText(lines.join("\n")).split("\n");
    expect(out[0]).toBe(lines[0]);
    expect(out[1]).toBe(lines[1]);
    expect(out[2]).toMatch(/^WARN retry with ⟦masked:known-value:[0-9a-f]{12}⟧ now$/);
    expect(out[3]).toBe(lines[3]);
  });
});

describe("attack F5: lines that only resemble a learned secret are left alone", () => {
  const untouched = [
    ["another character escaped in its place", "Sup\\u0034rSecret"],
    ["another character as a reference", "Sup&#52;rSecret"],
    ["another character as %XX", "Sup%34rSecret"],
    ["another character percent-encoded twice", "Sup%2534rSecret"],
    ["one character missing", "Sup\\u0033rSecre"],
    ["different case", "sup\\u0033rsecret"],
    ["an escape that is not one (too few hex digits)", "Sup\\u033rSecret"],
    ["an unterminated reference", "Sup&#51rSecret"],
    ["escapes beyond the bound (percent-encoded four times)", "Sup%25252533rSecret"],
  ];
  for (const [what, text] of untouched) {
    it(`attack F5: ${what}: ${text}`, () => {
      const line = `DEBUG value ${text} seen`;
      expect(learned(SECRET).maskText(line)).toBe(line);
    });
  }

  it("attack F5: escape-heavy lines without the secret come out unchanged", () => {
    const redactor = learned(SECRET);
    for (const line of [
      'INFO {"msg":"{\\"user\\":\\"u1\\",\\"path\\":\\"/a/b\\"}","t":1}',
      "GET /search?q=shoes%20size%2042&page=2&ref=%2Fhome%3Fa%3D1 200",
      '<p title="a &amp; b &lt;1&gt; &#39;q&#39;">caf&eacute; &#x41;&#66;C</p>',
      "bytes b'\\x00\\x01\\xff' and \\101\\102\\103 and %41%42%43",
      "not this one: Sup3rSecre, upSup3rSecre, Sup3r-Secret",
    ]) {
      expect(redactor.maskText(line)).toBe(line);
    }
  });
});

describe("the escapes that may hide a letter or digit (firstHiddenAlnum)", () => {
  it("finds each family and the escapes of escapes", () => {
    for (const text of [
      "%33",
      "%4a",
      "%7A",
      "\\x33",
      "\\u0033",
      "\\u{33}",
      "\\U00000033",
      "\\063",
      "&#51;",
      "&#x33;",
      "&#0051;",
      "%2533",
      "%5Cu0033",
      "\\\\u0033",
      "&amp;#51;",
      "\\u0026#51;",
      "%26%2351;",
      "&#37;33",
    ]) {
      expect(firstHiddenAlnum(`a ${text} b`, 0, text.length + 4), text).toBe(2);
    }
  });

  it("passes over the escapes encoders write for punctuation and non-ASCII", () => {
    for (const text of [
      "%20%2F%3A%3F%26",
      '\\"\\n\\t\\\\',
      "\\u00e9\\u0026 x",
      "&amp; &lt; &gt; &quot; &#39; &#x27; &nbsp;",
      "C:\\\\Users\\\\svc",
      "\\xff\\x00",
      "\\303\\244",
    ]) {
      expect(firstHiddenAlnum(text, 0, text.length), text).toBe(-1);
    }
  });

  it("octal byte escapes are decoded, as UTF-8 where they form it (git's quoted paths)", () => {
    expect(unescapedViews("caf\\303\\251 \\063").map((v) => v.text)).toContain("café 3");
  });
});
