/**
 * Attack F2 (issue 16): text an attacker controls reached the operator's terminal raw through the
 * CLI. `safeText` shows every control, format and invisible character as a visible escape and keeps
 * the rest of Unicode as it is.
 */
import { describe, expect, it } from "vitest";
import { escapeCodePoint, safeText } from "../../../common/safe-text.js";

/** Nothing a terminal acts on, nothing invisible: what every escaped text must satisfy. */
const RAW = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

describe("attack F2: safeText", () => {
  it("attack F2: ESC sequences (clear screen, cursor movement, colours) show as \\x1b", () => {
    const text = "ok\x1b[2J\x1b[H\x1b[1A\x1b[2Kfake line\x1b[31mred\x1b[0m";
    const shown = safeText(text);
    expect(shown).toBe("ok\\x1b[2J\\x1b[H\\x1b[1A\\x1b[2Kfake line\\x1b[31mred\\x1b[0m");
    expect(shown).not.toMatch(RAW);
  });

  it("attack F2: an OSC 8 hyperlink and an OSC title, ended by BEL or ST, are shown in full", () => {
    expect(safeText("\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\")).toBe(
      "\\x1b]8;;https://evil.example/\\x1b\\click\\x1b]8;;\\x1b\\",
    );
    expect(safeText("\x1b]0;owned\x07")).toBe("\\x1b]0;owned\\x07");
  });

  it("attack F2: CR cannot overprint, even where newlines and tabs are kept", () => {
    expect(safeText("real\rfake")).toBe("real\\rfake");
    expect(safeText("a\r\nb", { newlines: true, tabs: true })).toBe("a\\r\nb");
    expect(safeText("x\x1by", { newlines: true, tabs: true })).toBe("x\\x1by");
  });

  it("attack F2: newlines and tabs are escaped unless the output is multi-line", () => {
    expect(safeText("one\ntwo\tthree")).toBe("one\\ntwo\\tthree");
    expect(safeText("one\ntwo\tthree", { newlines: true })).toBe("one\ntwo\\tthree");
    expect(safeText("one\ntwo\tthree", { tabs: true })).toBe("one\\ntwo\tthree");
  });

  it("attack F2: every other C0 control, DEL and every C1 control (0x80–0x9f) is escaped", () => {
    for (let cp = 0; cp <= 0x1f; cp++) {
      const shown = safeText(`a${String.fromCharCode(cp)}b`, { newlines: true, tabs: true });
      if (cp === 0x09 || cp === 0x0a) continue;
      expect(shown, `U+${cp.toString(16)}`).toBe(`a${escapeCodePoint(cp)}b`);
      expect(shown).not.toMatch(RAW);
    }
    expect(safeText("\x00\x08\x7f")).toBe("\\x00\\x08\\x7f");
    for (let cp = 0x80; cp <= 0x9f; cp++) {
      expect(safeText(String.fromCharCode(cp))).toBe(`\\x${cp.toString(16)}`);
    }
    // 0x9b is the one-byte CSI: the same clear-screen without ESC.
    expect(safeText("\u009b2J")).toBe("\\x9b2J");
  });

  it("attack F2: bidi embeddings, overrides and isolates are escaped (no reordered text)", () => {
    const bidi = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f];
    for (const cp of bidi) {
      expect(safeText(`x${String.fromCodePoint(cp)}y`)).toBe(`x\\u{${cp.toString(16)}}y`);
    }
    // "approved" reads backwards as "devorppa" on screen behind U+202E: shown as it is stored.
    expect(safeText("INC-1 \u202Edevorppa\u202C")).toBe("INC-1 \\u{202e}devorppa\\u{202c}");
  });

  it("attack F2: zero-width characters, BOM, soft hyphen, tags and fillers are escaped", () => {
    expect(safeText("INC\u200B-42")).toBe("INC\\u{200b}-42");
    expect(safeText("a\u200Cb\u200Dc\u2060d\uFEFFe")).toBe("a\\u{200c}b\\u{200d}c\\u{2060}d\\u{feff}e");
    expect(safeText("pass\u00ADword")).toBe("pass\\xadword");
    // Tag characters carry hidden ASCII ("ASCII smuggling").
    expect(safeText("hi\u{E0041}\u{E0042}")).toBe("hi\\u{e0041}\\u{e0042}");
    expect(safeText("a\u3164b\u115Fc")).toBe("a\\u{3164}b\\u{115f}c");
  });

  it("attack F2: the line and paragraph separators U+2028/U+2029 are escaped even in multi-line output", () => {
    expect(safeText("one\u2028two\u2029three", { newlines: true })).toBe("one\\u{2028}two\\u{2029}three");
  });

  it("attack F2: lone surrogates are escaped", () => {
    expect(safeText("a\uD800b\uDFFF")).toBe("a\\u{d800}b\\u{dfff}");
  });

  it("attack F2: keeps é, 日本, emoji and their sequences as they are", () => {
    const kept = [
      "café résumé naïve Ærøskøbing",
      "日本語のログ 한국어 中文",
      "Привет мир, שלום, مرحبا",
      "deploy 🚀 done ✅",
      "❤️ 1️⃣ ☺︎",
      "👩🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️‍🔥",
      "tabs stay out of this one: plain ASCII ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
      "",
    ];
    for (const text of kept) expect(safeText(text)).toBe(text);
  });

  it("attack F2: a joiner or a selector out of place is escaped", () => {
    expect(safeText("a\u200Db")).toBe("a\\u{200d}b");
    expect(safeText("🚀\u200D")).toBe("🚀\\u{200d}");
    expect(safeText(" \uFE0F")).toBe(" \\u{fe0f}");
    expect(safeText("x\uFE0F\uFE0F")).toBe("x\uFE0F\\u{fe0f}");
    expect(safeText("\u{E0100}")).toBe("\\u{e0100}");
  });

  it("attack F2: idempotent, and text without anything to escape is returned as it is", () => {
    const nasty = "\x1b]8;;x\x07\r\n\t\u202E\u200B\u{E0041}🏳️‍🌈\u2028\x9b";
    const raw = ["\x1b", "\x07", "\r", "\u202E", "\u200B", "\u{E0041}", "\u2028", "\x9b"];
    for (const options of [{}, { newlines: true }, { tabs: true, newlines: true }]) {
      const once = safeText(nasty, options);
      expect(raw.filter((ch) => once.includes(ch))).toEqual([]);
      expect(once).toContain("🏳️‍🌈");
      expect(safeText(once, options)).toBe(once);
    }
    const plain = 'C:\\logs\\app.log {"a":"b\\n"}';
    expect(safeText(plain)).toBe(plain);
  });
});
